"""Runs one claimed job: the same code in a local worker process, a Celery worker, or the CLI."""

from __future__ import annotations

import logging
import time
from typing import Callable

from burntbeats.db import session_scope
from burntbeats.jobs.context import JobCancelled, JobContext, JobError
from burntbeats.jobs.registry import resolve_handler
from burntbeats.jobs import service
from burntbeats.models import Job, JobStatus
from burntbeats.settings import Settings
from burntbeats.storage import get_storage

log = logging.getLogger(__name__)

INTERNAL_ERROR = "An internal error stopped this job. It has been logged; please try again."
PROGRESS_WRITE_INTERVAL_S = 0.25


def user_message(exc: BaseException) -> str:
    """The sentence a user sees for a failure: our own errors verbatim, anything else generic."""
    from burntbeats.audio import AudioError

    if isinstance(exc, (JobError, AudioError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The job ran out of memory. Try a shorter file or a faster quality mode."
    return INTERNAL_ERROR


def run_handler(ctx: JobContext) -> dict:
    return resolve_handler(ctx.kind)(ctx)


def execute_job(job_id: str, settings: Settings) -> str:
    """Run a job already claimed (status running). Returns its final status."""
    url = settings.resolved_database_url
    storage = get_storage(settings)
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.RUNNING:
            return job.status if job else "missing"
        job_dir = storage.job_dir(job.id, create=True)
        input_path = job_dir / "input" if (job_dir / "input").exists() else None
        ctx = JobContext(
            job_id=job.id,
            kind=job.kind,
            owner_id=job.owner_id,
            params=dict(job.params or {}),
            job_dir=job_dir,
            input_path=input_path,
            settings=settings,
        )
    ctx.report = _db_reporter(url, job_id)
    try:
        result = run_handler(ctx)
    except JobCancelled:
        log.info("job %s cancelled", job_id)
        return JobStatus.CANCELLED
    except Exception as exc:  # noqa: BLE001 - every failure must end the job cleanly
        if not isinstance(exc, (JobError,)):
            log.exception("job %s (%s) failed", job_id, ctx.kind)
        with session_scope(url) as session:
            service.finish_job(session, job_id, error=user_message(exc))
        return JobStatus.FAILED
    with session_scope(url) as session:
        if not service.finish_job(session, job_id, result=result):
            return session.get(Job, job_id).status
    return JobStatus.SUCCEEDED


def _db_reporter(url: str, job_id: str) -> Callable[[str, float], None]:
    """Writes progress at most a few times a second (always on a stage change); raises JobCancelled."""
    state = {"t": 0.0, "stage": None}

    def report(stage: str, percent: float) -> None:
        now = time.monotonic()
        if stage == state["stage"] and now - state["t"] < PROGRESS_WRITE_INTERVAL_S and percent < 100:
            return
        state["t"], state["stage"] = now, stage
        with session_scope(url) as session:
            if not service.report_progress(session, job_id, stage, percent):
                raise JobCancelled()

    return report
