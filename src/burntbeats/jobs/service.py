"""Job bookkeeping shared by the API, the CLI and the runners: create, claim (with a lease), finish, cancel,
re-queue, purge."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row, delete, func, or_, select, update
from sqlalchemy.orm import Session

from burntbeats.billing.ledger import close_job
from burntbeats.db import Reader
from burntbeats.models import LOCAL_USER_ID, Job, JobStatus, User, utcnow

log = logging.getLogger(__name__)


def new_id() -> str:
    return uuid.uuid4().hex


def ensure_local_user(session: Session) -> None:
    if session.get(User, LOCAL_USER_ID) is None:
        session.add(User(id=LOCAL_USER_ID, display_name="Local user"))
        session.flush()


def create_job(
    session: Session,
    *,
    kind: str,
    owner_id: str,
    params: dict,
    job_id: str | None = None,
    input_name: str | None = None,
    parent_id: str | None = None,
    group_id: str | None = None,
    title: str | None = None,
) -> Job:
    job = Job(
        id=job_id or new_id(),
        kind=kind,
        owner_id=owner_id,
        status=JobStatus.QUEUED,
        progress=0.0,
        stage="queued",
        params=params,
        input_name=input_name,
        title=title,
        parent_id=parent_id,
        group_id=group_id,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def queue_position(session: Reader, job: Job | Row) -> int | None:
    """1 = next to run. None once the job has left the queue."""
    if job.status != JobStatus.QUEUED:
        return None
    ahead = session.scalar(
        select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED, Job.created_at < job.created_at)
    )
    return int(ahead or 0) + 1


def queued_count(session: Session, kind_prefix: str | None = None) -> int:
    q = select(func.count()).select_from(Job).where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
    if kind_prefix:
        q = q.where(Job.kind.startswith(kind_prefix))
    return int(session.scalar(q) or 0)


def next_queued(session: Session, limit: int = 5) -> list[str]:
    """The oldest queued job ids, in order (claim one with `claim`)."""
    query = select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.created_at).limit(limit)
    return list(session.scalars(query))


def claim(session: Session, job_id: str, owner: str | None = None, lease_s: float | None = None) -> bool:
    """Atomically move one queued job to running, held by `owner` for `lease_s` seconds; False if it was taken.

    Only the lease holder may then report progress or finish the job. Without a lease (lease_s None)
    the job counts as abandoned at the next sweep.
    """
    now = utcnow()
    claimed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.RUNNING, stage="starting", started_at=now, attempts=Job.attempts + 1,
                lease_owner=owner, heartbeat_at=now,
                lease_expires_at=now + timedelta(seconds=lease_s) if lease_s is not None else None)
    ).rowcount
    session.commit()
    return claimed == 1


def claim_next(session: Session, owner: str | None = None, lease_s: float | None = None) -> str | None:
    """Claim the oldest queued job; returns its id (None when the queue is empty)."""
    for job_id in next_queued(session):
        if claim(session, job_id, owner, lease_s):
            return job_id
    return None


def renew_lease(session: Session, job_id: str, owner: str, lease_s: float) -> bool:
    """The heartbeat: extend `owner`'s lease. False once the job was cancelled, finished or taken over."""
    now = utcnow()
    renewed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.lease_owner == owner)
        .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_s))
    ).rowcount
    session.commit()
    return renewed == 1


def _held(owner: str | None):
    """Rows still running, and held by `owner` when one is given (a stale worker matches nothing)."""
    cond = [Job.status == JobStatus.RUNNING]
    if owner is not None:
        cond.append(Job.lease_owner == owner)
    return cond


def report_progress(session: Session, job_id: str, stage: str, percent: float, owner: str | None = None) -> bool:
    """Persist progress; returns False if the job is no longer running (cancelled) or no longer `owner`'s."""
    updated = session.execute(
        update(Job)
        .where(Job.id == job_id, *_held(owner))
        .values(stage=stage, progress=round(percent, 2))
    ).rowcount
    session.commit()
    return updated == 1


def finish_job(
    session: Session,
    job_id: str,
    *,
    result: dict | None = None,
    error: str | None = None,
    owner: str | None = None,
    commit: bool = True,
) -> bool:
    """End a running job (only `owner`'s, when given). With commit=False the row stays locked until the
    caller commits: the runner publishes the job's files inside that window, so no one else can."""
    values: dict = {"finished_at": utcnow(), "lease_expires_at": None}
    if error is None:
        values.update(status=JobStatus.SUCCEEDED, progress=100.0, stage="done", result=result or {})
        if result and result.get("engine"):
            values["engine"] = str(result["engine"])[:64]
    else:
        values.update(status=JobStatus.FAILED, stage="failed", error=error, result=result)
    updated = session.execute(update(Job).where(Job.id == job_id, *_held(owner)).values(**values)).rowcount
    if updated == 1:  # settle its token reservation, or refund it (billing.ledger; nothing if it reserved none)
        close_job(session, job_id, JobStatus.SUCCEEDED if error is None else JobStatus.FAILED)
    if commit:
        session.commit()
    return updated == 1


def withdraw_jobs(session: Session, job_ids: list[str]) -> None:
    """Jobs just created that no runner could take (the queue's broker is down): their token reservations are
    refunded and their rows removed, as if they had never been submitted."""
    for job_id in job_ids:
        close_job(session, job_id, JobStatus.CANCELLED)
    session.execute(delete(Job).where(Job.id.in_(job_ids)))
    session.commit()


def cancel_job(session: Session, job: Job) -> bool:
    """Queued or running jobs become cancelled; a running worker notices at its next progress report."""
    if job.status in JobStatus.FINISHED:
        return False
    updated = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .values(status=JobStatus.CANCELLED, stage="cancelled", finished_at=utcnow(), lease_expires_at=None)
    ).rowcount
    if updated == 1:
        close_job(session, job.id, JobStatus.CANCELLED)  # its token reservation back
    session.commit()
    return updated == 1


def abandoned_jobs(session: Session) -> list[tuple[str, str | None]]:
    """Running jobs whose lease ran out (or that never had one): (job id, last lease owner)."""
    rows = session.execute(
        select(Job.id, Job.lease_owner).where(
            Job.status == JobStatus.RUNNING,
            or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < utcnow()),
        )
    )
    return [(job_id, owner) for job_id, owner in rows]


def retry_or_fail(
    session: Session,
    job_id: str,
    *,
    max_attempts: int,
    error: str,
    owner: str | None = None,
    only_if_expired: bool = False,
) -> str | None:
    """A running job lost its worker: back to the queue, or failed with `error` once it used its attempts.

    Conditional on the job still being running (and `owner`'s, and its lease expired, when asked),
    so a worker that finishes at the same moment wins cleanly. Returns the new status, or None.
    """
    cond = _held(owner)
    if only_if_expired:
        cond.append(or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < utcnow()))
    failed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempts >= max_attempts, *cond)
        .values(status=JobStatus.FAILED, stage="failed", error=error, finished_at=utcnow(), lease_expires_at=None)
    ).rowcount
    requeued = 0
    if failed:
        close_job(session, job_id, JobStatus.FAILED)  # its token reservation back
    else:
        requeued = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.attempts < max_attempts, *cond)
            .values(status=JobStatus.QUEUED, stage="queued", progress=0.0, started_at=None,
                    lease_owner=None, lease_expires_at=None)
        ).rowcount
    session.commit()
    return JobStatus.FAILED if failed else JobStatus.QUEUED if requeued else None


def release(session: Session, job_id: str, owner: str) -> bool:
    """A graceful stop: `owner` hands its job back to the queue; the interrupted attempt is not counted."""
    released = session.execute(
        update(Job)
        .where(Job.id == job_id, *_held(owner))
        .values(status=JobStatus.QUEUED, stage="queued", progress=0.0, started_at=None, lease_owner=None,
                lease_expires_at=None, attempts=Job.attempts - 1)
    ).rowcount
    session.commit()
    return released == 1


def expired_jobs(session: Session, retention_hours: float) -> list[Job]:
    cutoff = datetime.now(UTC) - timedelta(hours=retention_hours)
    return list(
        session.scalars(
            select(Job).where(
                Job.status.in_(JobStatus.FINISHED),
                Job.finished_at.is_not(None),
                Job.finished_at < cutoff,
                Job.files_purged_at.is_(None),
            )
        )
    )
