"""Who may read a job: whoever holds its signed token. Raises domain errors (404 / 403 in the API)."""

from __future__ import annotations

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from burntbeats.errors import Forbidden, NotFound
from burntbeats.jobs import tokens
from burntbeats.jobs.kinds import kind_matches
from burntbeats.models import Job

JOB_TOKEN_PURPOSE = "job"
MAX_JOB_ID_LENGTH = 32


def job_token(secret: str, job_id: str) -> str:
    return tokens.sign(secret, JOB_TOKEN_PURPOSE, job_id)


def _valid_id(job_id: object) -> bool:
    return isinstance(job_id, str) and len(job_id) <= MAX_JOB_ID_LENGTH


def _allowed(job: Job | Row | None, secret: str, job_id: str, token: object, kind: str | None) -> None:
    if job is None or (kind and not kind_matches(job.kind, kind)):
        raise NotFound(f"No such job: {job_id}.")
    if not tokens.verify(secret, JOB_TOKEN_PURPOSE, job.id, token):
        raise Forbidden("Missing or invalid job token for this job.")


def find_job(session: Session, secret: str, job_id: str, token: object, kind: str | None = None) -> Job:
    """The job if it exists, is of `kind` (a kind or a family, None = any) and `token` is its token."""
    job = session.get(Job, job_id) if _valid_id(job_id) else None
    _allowed(job, secret, job_id, token, kind)
    return job


_JOB_ROW = select(Job.__table__).where(Job.__table__.c.id == bindparam("job_id"))


def find_job_row(session: Session, secret: str, job_id: str, token: object, kind: str | None = None) -> Row:
    """What `find_job` checks, giving the job's columns as a read-only row (same attribute names) instead of
    an ORM object: one plain SELECT on the session's connection, for the status polls (about a fifth less
    CPU per poll than loading the object; docs/performance.md)."""
    row = session.connection().execute(_JOB_ROW, {"job_id": job_id}).first() if _valid_id(job_id) else None
    _allowed(row, secret, job_id, token, kind)
    return row
