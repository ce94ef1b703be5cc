"""Runs one claimed job: the same code in a local worker process, a Celery worker, or the CLI."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from burntbeats.db import session_scope
from burntbeats.diskspace import failed_for_lack_of_space
from burntbeats.jobs import service
from burntbeats.jobs.context import JobCancelled, JobContext, JobError
from burntbeats.jobs.registry import resolve_handler
from burntbeats.models import Job, JobStatus
from burntbeats.settings import Settings
from burntbeats.storage import get_storage

log = logging.getLogger(__name__)

INTERNAL_ERROR = "An internal error stopped this job. It has been logged; please try again."
DISK_FULL = ("The server ran out of disk space while running this job; its partial files were removed. "
             "Please try again later.")
PROGRESS_WRITE_INTERVAL_S = 0.25


def user_message(exc: BaseException, written_to: Path | None = None) -> str:
    """The sentence a user sees for a failure: our own errors verbatim, anything else generic.

    `written_to`: the folder the job was writing into (a full disk there explains an I/O error)."""
    from burntbeats.audio import AudioError

    if isinstance(exc, (JobError, AudioError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The job ran out of memory. Try a shorter file or a faster quality mode."
    if failed_for_lack_of_space(exc, written_to):
        return DISK_FULL
    return INTERNAL_ERROR


def run_handler(ctx: JobContext) -> dict:
    return resolve_handler(ctx.kind)(ctx)


class LeaseLost(JobCancelled):
    """This worker's lease on the job ran out or was taken over: stop, and publish nothing."""


def execute_job(job_id: str, settings: Settings, owner: str | None = None,
                lost: threading.Event | None = None) -> str:
    """Run a job already claimed (status running), by lease `owner` when given. Returns its final status.

    The handler writes into a staging folder for this attempt; on success its outputs are moved into
    the job folder while the job row is locked by the finishing UPDATE, so only the lease holder
    publishes, once. Failed, cancelled and superseded attempts leave no files behind.
    """
    url = settings.resolved_database_url
    storage = get_storage(settings)
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.RUNNING or (owner is not None and job.lease_owner != owner):
            return job.status if job else "missing"
    try:
        job_dir = storage.local_inputs(job.id)  # an object store downloads the inputs here
    except Exception as exc:  # the store is unreachable: this attempt fails, the job with it
        log.exception("job %s: its inputs could not be fetched", job_id)
        with session_scope(url) as session:
            service.finish_job(session, job_id, error=user_message(exc), owner=owner)
        return _status(url, job_id)
    staging = storage.stage(job.id, job.attempts)
    ctx = JobContext(
        job_id=job.id,
        kind=job.kind,
        owner_id=job.owner_id,
        params=dict(job.params or {}),
        job_dir=staging,
        input_path=job_dir / "input" if (job_dir / "input").exists() else None,
        settings=settings,
        attempt=job.attempts,
        inputs_dir=job_dir,
    )
    ctx.report = _db_reporter(url, job_id, owner, lost)
    try:
        result = run_handler(ctx)
        if lost is not None and lost.is_set():
            raise LeaseLost()
    except JobCancelled as exc:
        shutil.rmtree(staging, ignore_errors=True)
        log.info("job %s %s", job_id, "lost its lease" if isinstance(exc, LeaseLost) else "cancelled")
        return _status(url, job_id)
    except Exception as exc:  # every failure must end the job cleanly
        message = user_message(exc, staging)  # before the cleanup frees the space
        shutil.rmtree(staging, ignore_errors=True)
        if not isinstance(exc, (JobError,)):
            log.exception("job %s (%s) failed", job_id, ctx.kind)
        with session_scope(url) as session:
            service.finish_job(session, job_id, error=message, owner=owner)
        return _status(url, job_id)
    return _publish(url, storage, job_id, owner, staging, result)


def _publish(url: str, storage, job_id: str, owner: str | None, staging: Path, result: dict) -> str:
    try:
        with session_scope(url) as session:
            if not service.finish_job(session, job_id, result=result, owner=owner, commit=False):
                session.rollback()
                shutil.rmtree(staging, ignore_errors=True)
                log.warning("job %s: this worker no longer holds it; its result was not published", job_id)
                return _status(url, job_id)
            storage.publish(job_id, staging)  # the row stays locked until the commit below
    except Exception as exc:  # e.g. the disk failed while moving files
        log.exception("job %s: publishing its result failed", job_id)
        shutil.rmtree(staging, ignore_errors=True)
        with session_scope(url) as session:
            service.finish_job(session, job_id, error=user_message(exc), owner=owner)
        return _status(url, job_id)
    log.info("job %s succeeded and was published", job_id)
    return JobStatus.SUCCEEDED


def _status(url: str, job_id: str) -> str:
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        return job.status if job else "missing"


def _db_reporter(url: str, job_id: str, owner: str | None = None,
                 lost: threading.Event | None = None) -> Callable[[str, float], None]:
    """Writes progress at most a few times a second (always on a stage change); raises JobCancelled
    once the job was cancelled, or LeaseLost once this worker no longer holds it."""
    state = {"t": 0.0, "stage": None}

    def report(stage: str, percent: float) -> None:
        if lost is not None and lost.is_set():
            raise LeaseLost()
        now = time.monotonic()
        if stage == state["stage"] and now - state["t"] < PROGRESS_WRITE_INTERVAL_S and percent < 100:
            return
        state["t"], state["stage"] = now, stage
        with session_scope(url) as session:
            if not service.report_progress(session, job_id, stage, percent, owner=owner):
                raise JobCancelled()

    return report
