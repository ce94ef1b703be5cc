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

from burntbeats.billing import ledger
from burntbeats.billing.costs import KIND_LABELS, Cost, job_cost
from burntbeats.billing.limits import jobs_at_once_refusal, needs_tokens, plan_refusal
from burntbeats.billing.models import BillingAccount
from burntbeats.billing.plans import Plan, get_plan
from burntbeats.errors import DomainError
from burntbeats.models import Job, JobStatus
from burntbeats.settings import Settings


@dataclass(frozen=True)
class Decision:
    plan: Plan
    costs: list[Cost]
    refusal: DomainError | None
    balance: int | None = None
    held: int = 0

    @property
    def total(self) -> int:
        return sum(c.tokens for c in self.costs)


def plan_of(account: BillingAccount | None, settings: Settings) -> Plan:
    return get_plan(account.plan if account is not None else None, settings)


def account_plan(session: Session, settings: Settings, owner_id: str) -> Plan:
    return plan_of(ledger.find_account(session, owner_id), settings)


def grant_due(session: Session, owner_id: str, plan: Plan) -> None:
    """This month's tokens of a plan Stripe does not bill (free): granted on first use in the month."""
    if plan.price_setting is None:
        ledger.grant_month(session, owner_id, plan.id, plan.monthly_tokens)


def current(session: Session, settings: Settings, owner_id: str) -> tuple[BillingAccount | None, Plan]:
    """The owner's billing row and plan, with this month's free tokens granted if due (under metering): what the
    balance and the quote show is what admission would see."""
    account = ledger.find_account(session, owner_id)
    plan = plan_of(account, settings)
    if settings.usage_tokens_enabled:
        grant_due(session, owner_id, plan)
    return account, plan


def active_jobs(session: Session, owner_id: str) -> int:
    """The owner's jobs queued or running."""
    return int(session.scalar(select(func.count()).select_from(Job).where(
        Job.owner_id == owner_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))) or 0)


def evaluate(session: Session, settings: Settings, kind: str, owner_id: str, params: Sequence[Mapping[str, Any]],
             plan: Plan | None = None) -> Decision:
    """The plan, each job's cost, the balance and the first refusal: 403 outside the plan, 402 short of tokens.

    Reads only; admission calls it with the account locked, the quote without (an answer for now)."""
    plan = plan or account_plan(session, settings, owner_id)
    costs = [job_cost(settings, kind, p) for p in params]
    refusal: DomainError | None = next((r for p in params if (r := plan_refusal(plan, kind, p)) is not None), None)
    if refusal is None:
        refusal = jobs_at_once_refusal(plan, active_jobs(session, owner_id), len(params))
    if not settings.usage_tokens_enabled:
        return Decision(plan, costs, refusal)
    balance, held = ledger.balance(session, owner_id), ledger.held(session, owner_id)
    total = sum(c.tokens for c in costs)
    if refusal is None and total > balance:
        what = KIND_LABELS.get(kind, "job") if len(costs) == 1 else f"batch of {len(costs)} jobs"
        refusal = needs_tokens(total, balance, what, held)
    return Decision(plan, costs, refusal, balance, held)


def admit_usage(session: Session, settings: Settings, kind: str, owner_id: str, params: Sequence[Mapping[str, Any]],
                job_ids: Sequence[str]) -> None:
    """Inside the submission's transaction: lock the account, grant the month's tokens if due, check the plan
    and the balance (raise 403 / 402 with a sentence), and reserve each job's cost."""
    if not settings.usage_tokens_enabled:
        return
    account = ledger.lock_account(session, owner_id)
    plan = plan_of(account, settings)
    grant_due(session, owner_id, plan)
    decision = evaluate(session, settings, kind, owner_id, params, plan)
    if decision.refusal is not None:
        raise decision.refusal
    for job_id, cost in zip(job_ids, decision.costs, strict=True):
        if cost.tokens > 0:
            ledger.reserve(session, owner_id, job_id, kind, cost.tokens, cost.description)
