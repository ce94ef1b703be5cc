"""The one admission policy: may this owner queue `count` more jobs of this kind now?

Today: a queue depth per job family from settings (STEMS_ / SPEECH_ / MIDI_MAX_QUEUE_DEPTH, jobs waiting
or running); every family answers overload the same way (Overloaded -> 503 + Retry-After + a sentence).
Accounts add plan limits, rate limits and token reservation here; the routers do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from burntbeats.billing.meter import admit_usage
from burntbeats.errors import Overloaded
from burntbeats.guard.ratelimit import check_submit
from burntbeats.jobs import service
from burntbeats.jobs.kinds import JobFamily, family_of
from burntbeats.settings import Settings

RETRY_AFTER_S = 30
_LABELS = {JobFamily.STEMS: "stems", JobFamily.SPEECH: "speech", JobFamily.MIDI: "MIDI"}


class Batch(list):
    """The params of the jobs a submission asks to admit, in order, and their ids (`job_ids`)."""

    def __init__(self, params: Sequence[Mapping[str, Any]], job_ids: Sequence[str]) -> None:
        super().__init__(params)
        self.job_ids = list(job_ids)


def queue_limit(settings: Settings, family: JobFamily) -> int:
    return int(getattr(settings, f"{family.value}_max_queue_depth"))


def admit(
    session: Session, settings: Settings, kind: str, owner_id: str, count: int, params: Sequence[Mapping[str, Any]],
) -> None:
    """Return if `count` jobs of `kind` may be queued for `owner_id`; else raise Overloaded.

    `params` holds each of those jobs' params (len == count); from the submission it is a :class:`Batch`, which
    also names the jobs' ids (their rows are created next, in the same transaction).

    Called inside the submission's transaction, after the inputs are stored and probed (so `params` holds the
    input's facts, e.g. its duration) and before any row is created.
    """
    check_submit(settings, owner_id, count)  # rate limits per user and per address (AUTH_REQUIRED)
    check_queue_depth(session, settings, family_of(kind), count)
    # Plan limits, then each job's cost reserved from the owner's tokens (USAGE_TOKENS_ENABLED; billing.meter).
    admit_usage(session, settings, kind, owner_id, params, getattr(params, "job_ids", ()))


def check_queue_depth(session: Session, settings: Settings, family: JobFamily, count: int) -> None:
    """Overloaded when `count` more jobs would take the family past its queue depth."""
    limit = queue_limit(settings, family)
    waiting = service.queued_count(session, f"{family.value}.")
    if waiting + count > limit:
        raise Overloaded(
            f"The {_LABELS[family]} queue is full ({waiting} jobs waiting or running, limit {limit}). "
            f"Please try again in {RETRY_AFTER_S} seconds.",
            retry_after_s=RETRY_AFTER_S,
        )
