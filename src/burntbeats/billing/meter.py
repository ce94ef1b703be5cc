"""Admission with usage tokens: the plan's limits, then the cost against the balance (USAGE_TOKENS_ENABLED).

`admit_usage` is called by burntbeats.jobs.admission.admit inside the submission's transaction; `evaluate` is
the same decision without taking anything (GET /api/billing/quote).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from burntbeats.billing.costs import Cost, job_cost
from burntbeats.billing.limits import jobs_at_once_refusal, plan_refusal
from burntbeats.billing.plans import Plan, get_plan
from burntbeats.errors import DomainError
from burntbeats.models import Job, JobStatus
from burntbeats.settings import Settings


@dataclass(frozen=True)
class Decision:
    plan: Plan
    costs: list[Cost]
    refusal: DomainError | None

    @property
    def total(self) -> int:
        return sum(c.tokens for c in self.costs)


def account_plan(session: Session, settings: Settings, owner_id: str) -> Plan:
    return get_plan(None, settings)


def active_jobs(session: Session, owner_id: str) -> int:
    """The owner's jobs queued or running."""
    return int(session.scalar(select(func.count()).select_from(Job).where(
        Job.owner_id == owner_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))) or 0)


def evaluate(session: Session, settings: Settings, kind: str, owner_id: str,
             params: Sequence[Mapping[str, Any]]) -> Decision:
    """The plan, each job's cost, and the first refusal (403 outside the plan) if any."""
    plan = account_plan(session, settings, owner_id)
    costs = [job_cost(settings, kind, p) for p in params]
    refusal: DomainError | None = next((r for p in params if (r := plan_refusal(plan, kind, p)) is not None), None)
    if refusal is None:
        refusal = jobs_at_once_refusal(plan, active_jobs(session, owner_id), len(params))
    return Decision(plan, costs, refusal)


def admit_usage(session: Session, settings: Settings, kind: str, owner_id: str,
                params: Sequence[Mapping[str, Any]]) -> None:
    """Raise the refusal (403 / 402 with a sentence) when these jobs are outside the owner's plan."""
    if not settings.usage_tokens_enabled:
        return
    decision = evaluate(session, settings, kind, owner_id, params)
    if decision.refusal is not None:
        raise decision.refusal
