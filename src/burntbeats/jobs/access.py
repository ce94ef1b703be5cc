"""Who may read a job: its owner, holding its signed token. Raises domain errors (404 / 403 / 410 in the API).

Another user's job answers exactly as a job that does not exist (404), whatever id or token is tried: its
existence is never revealed. With accounts off every job belongs to the one local user. A job its owner deleted
answers 410 with a sentence to its owner holding its token, so a link says "deleted" rather than "never existed".
"""

from __future__ import annotations

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from burntbeats.db import Reader
from burntbeats.errors import Gone, NotFound
from burntbeats.jobs import tokens
from burntbeats.jobs.kinds import kind_matches
from burntbeats.models import Job

JOB_TOKEN_PURPOSE = tokens.JOB
MAX_JOB_ID_LENGTH = 32
JOB_ONLY = (tokens.JOB,)
JOB_OR_FILE = (tokens.JOB, tokens.FILE)  # the routes that serve a file also take a file link's short-lived token


def _valid_id(job_id: object) -> bool:
    return isinstance(job_id, str) and len(job_id) <= MAX_JOB_ID_LENGTH


def _owned(job: Job | Row | None, job_id: object, owner_id: str, kind: str | None) -> None:
    if job is None or job.owner_id != owner_id or (kind and not kind_matches(job.kind, kind)):
        raise NotFound(f"No such job: {job_id}.")


def _not_deleted(job: Job | Row) -> None:
    if job.deleted_at is not None:
        raise Gone(deleted_message(job))


def deleted_message(job: Job | Row) -> str:
    return f"This job was deleted on {job.deleted_at:%Y-%m-%d %H:%M} UTC; its files are gone."


def owned_job(session: Session, job_id: object, owner_id: str, kind: str | None = None) -> Job:
    """The job if it exists, is `owner_id`'s and of `kind` (a kind or a family, None = any); else NotFound."""
    job = session.get(Job, job_id) if _valid_id(job_id) else None
    _owned(job, job_id, owner_id, kind)
    return job


def find_job(session: Session, job_tokens: tokens.JobTokens, job_id: str, token: object, kind: str | None = None,
             *, owner_id: str, purposes: tuple[str, ...] = JOB_ONLY) -> Job:
    """The job if it is `owner_id`'s, of `kind` and `token` is its token (NotFound / Forbidden otherwise; Gone once
    deleted)."""
    job = owned_job(session, job_id, owner_id, kind)
    job_tokens.check(job, token, purposes)
    _not_deleted(job)
    return job


_JOB_ROW = select(Job.__table__).where(Job.__table__.c.id == bindparam("job_id"))


def find_job_row(reader: Reader, job_tokens: tokens.JobTokens, job_id: str, token: object, kind: str | None = None,
                 *, owner_id: str, purposes: tuple[str, ...] = JOB_ONLY) -> Row:
    """What `find_job` checks, giving the job's columns as a read-only row (same attribute names) instead of
    an ORM object: one plain SELECT on the session's connection, for the status polls (about a fifth less
    CPU per poll than loading the object; docs/performance.md)."""
    connection = reader.connection() if isinstance(reader, Session) else reader
    row = connection.execute(_JOB_ROW, {"job_id": job_id}).first() if _valid_id(job_id) else None
    _owned(row, job_id, owner_id, kind)
    job_tokens.check(row, token, purposes)
    _not_deleted(row)
    return row
