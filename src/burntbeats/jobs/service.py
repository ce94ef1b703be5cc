"""Job bookkeeping shared by the API, the CLI and the runners: create, claim, finish, cancel, re-queue, purge."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

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
        parent_id=parent_id,
        group_id=group_id,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def queue_position(session: Session, job: Job) -> int | None:
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


def claim_next(session: Session) -> str | None:
    """Atomically move the oldest queued job to running; returns its id (None when the queue is empty)."""
    for job_id in session.scalars(
        select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.created_at).limit(5)
    ):
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.RUNNING, stage="starting", started_at=utcnow(), attempts=Job.attempts + 1)
        ).rowcount
        session.commit()
        if claimed == 1:
            return job_id
    return None


def report_progress(session: Session, job_id: str, stage: str, percent: float) -> bool:
    """Persist progress; returns False if the job is no longer running (cancelled)."""
    updated = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(stage=stage, progress=round(percent, 2))
    ).rowcount
    session.commit()
    return updated == 1


def finish_job(session: Session, job_id: str, *, result: dict | None = None, error: str | None = None) -> bool:
    values: dict = {"finished_at": utcnow()}
    if error is None:
        values.update(status=JobStatus.SUCCEEDED, progress=100.0, stage="done", result=result or {})
        if result and result.get("engine"):
            values["engine"] = str(result["engine"])[:64]
    else:
        values.update(status=JobStatus.FAILED, stage="failed", error=error, result=result)
    updated = session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING).values(**values)
    ).rowcount
    session.commit()
    return updated == 1


def cancel_job(session: Session, job: Job) -> bool:
    """Queued or running jobs become cancelled; a running worker notices at its next progress report."""
    if job.status in JobStatus.FINISHED:
        return False
    updated = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .values(status=JobStatus.CANCELLED, stage="cancelled", finished_at=utcnow())
    ).rowcount
    session.commit()
    return updated == 1


def requeue_interrupted(session: Session) -> list[str]:
    """Jobs left `running` by a crash or restart go back to the queue (accepted work is never lost)."""
    ids = list(session.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING)))
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.status == JobStatus.RUNNING)
            .values(status=JobStatus.QUEUED, stage="queued", progress=0.0, started_at=None)
        )
        session.commit()
        log.warning("re-queued %d job(s) interrupted by a restart: %s", len(ids), ", ".join(ids))
    return ids


def expired_jobs(session: Session, retention_hours: float) -> list[Job]:
    cutoff = datetime.now(timezone.utc) - timedelta(hours=retention_hours)
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
