"""How long a finished job's files are kept under metering: its owner's plan's retention (Plan.retention_hours),
instead of JOB_RETENTION_HOURS (burntbeats.jobs.runner.purge_expired asks here when USAGE_TOKENS_ENABLED)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from burntbeats.billing.models import BillingAccount
from burntbeats.billing.plans import PLANS, get_plan
from burntbeats.jobs import service
from burntbeats.models import Job, as_utc, utcnow
from burntbeats.settings import Settings


def expired_jobs(session: Session, settings: Settings) -> list[Job]:
    """Finished jobs, files not yet purged, older than their owner's plan keeps them."""
    candidates = service.expired_jobs(session, min(p.retention_hours for p in PLANS))
    owners = {job.owner_id for job in candidates}
    plan_ids = dict(session.execute(select(BillingAccount.user_id, BillingAccount.plan)
                                    .where(BillingAccount.user_id.in_(owners))).all()) if owners else {}
    now = utcnow()
    return [job for job in candidates
            if as_utc(job.finished_at) < now - timedelta(hours=get_plan(plan_ids.get(job.owner_id), settings)
                                                         .retention_hours)]
