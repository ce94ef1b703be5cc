"""What an owner does with a job after submitting it: list and search (history), rename, delete, try again.

Deleting removes the job's files through the storage interface and keeps the row, marked deleted, so that a
link to it answers 410 ("deleted") rather than 404 ("never existed"); deleted jobs leave the history. A queued
or running job is not deleted: it is cancelled first (its worker may still be writing files until it notices).
Trying again submits a new job of the same kind with the same params and the same stored input, through the one
submission path (jobs/submit.py), without a re-upload.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from burntbeats.errors import Conflict, Gone
from burntbeats.jobs.kinds import JobKind
from burntbeats.jobs.submit import INPUT_FILE, FilesFromJob, JobRequest
from burntbeats.models import Job, JobStatus, utcnow
from burntbeats.storage import Storage

MAX_TITLE_LENGTH = 200
MAX_QUERY_LENGTH = 200
# Kinds whose whole input is the job's stored `input` (an upload, or a stem linked in at submission).
RETRYABLE_KINDS = (JobKind.STEMS_SPLIT, JobKind.SPEECH_ENHANCE, JobKind.MIDI_TRANSCRIBE)
RETRY_OF = "_retry_of"  # a private param (not in the public status): the job this one tries again
INPUT_GONE = "This job's input has expired and was removed; please upload the file again."


def history_query(owner_id: str, *, kind: str | None = None, query: str | None = None, limit: int = 50) -> Select:
    """The owner's jobs, newest first, without deleted ones; `query` matches the title or the input's name
    (case-insensitive, anywhere in it; % and _ are plain characters)."""
    q = select(Job).where(Job.owner_id == owner_id, Job.deleted_at.is_(None))
    if kind:
        q = q.where(Job.kind.startswith(kind))
    words = (query or "").strip().lower()[:MAX_QUERY_LENGTH]
    if words:
        q = q.where(or_(func.lower(Job.title).contains(words, autoescape=True),
                        func.lower(Job.input_name).contains(words, autoescape=True)))
    return q.order_by(Job.created_at.desc()).limit(limit)


def expires_at(job: Job, retention_hours: float) -> datetime | None:
    """When the job's files are removed (JOB_RETENTION_HOURS after it ended); None while it is queued or
    running. The purge runs every few minutes, so the files may outlive this by that much."""
    if job.finished_at is None or job.status not in JobStatus.FINISHED:
        return None
    finished = job.finished_at if job.finished_at.tzinfo else job.finished_at.replace(tzinfo=UTC)
    return finished + timedelta(hours=retention_hours)


def clean_title(title: str | None) -> str | None:
    """The title to store: trimmed, inner whitespace runs made one space; empty -> None (the input's name)."""
    if title is None:
        return None
    cleaned = " ".join(title.split())
    return cleaned[:MAX_TITLE_LENGTH] or None


def rename(session: Session, job: Job, title: str | None) -> Job:
    job.title = clean_title(title)
    session.flush()
    return job


def delete(session: Session, storage: Storage, job: Job) -> datetime:
    """Remove a finished job's files and mark its row deleted; Conflict while it is queued or running."""
    if job.status not in JobStatus.FINISHED:
        raise Conflict(f"The job is still {job.status}; cancel it first, then delete it.")
    now = utcnow()
    job.deleted_at = now
    job.files_purged_at = job.files_purged_at or now
    session.flush()
    storage.delete(job.id)
    return now


def retry_request(job: Job, storage: Storage) -> JobRequest:
    """A new job like `job` (same kind, owner, params, title, input), to submit with jobs.submit.submit_job."""
    if job.kind not in RETRYABLE_KINDS:
        raise Conflict("This kind of job cannot be tried again here; start it again from its page.")
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(f"The job is {job.status}; only a failed or cancelled job can be tried again.")
    if job.files_purged_at is not None or not storage.exists(job.id, INPUT_FILE):
        raise Gone(INPUT_GONE)
    params: dict[str, Any] = {**(job.params or {}), RETRY_OF: job.id}
    return JobRequest(kind=job.kind, owner_id=job.owner_id, params=params, input_name=job.input_name,
                      parent_id=job.parent_id, title=job.title,
                      inputs=[FilesFromJob(job.id, {INPUT_FILE: INPUT_FILE}, gone_message=INPUT_GONE)])
