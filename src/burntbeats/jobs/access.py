"""Who may read a job: whoever holds its signed token. Raises domain errors (404 / 403 in the API)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from burntbeats.errors import Forbidden, NotFound
from burntbeats.jobs import tokens
from burntbeats.jobs.kinds import kind_matches
from burntbeats.models import Job

JOB_TOKEN_PURPOSE = "job"
MAX_JOB_ID_LENGTH = 32


def job_token(secret: str, job_id: str) -> str:
    return tokens.sign(secret, JOB_TOKEN_PURPOSE, job_id)


def find_job(session: Session, secret: str, job_id: str, token: object, kind: str | None = None) -> Job:
    """The job if it exists, is of `kind` (a kind or a family, None = any) and `token` is its token."""
    job = session.get(Job, job_id) if isinstance(job_id, str) and len(job_id) <= MAX_JOB_ID_LENGTH else None
    if job is None or (kind and not kind_matches(job.kind, kind)):
        raise NotFound(f"No such job: {job_id}.")
    if not tokens.verify(secret, JOB_TOKEN_PURPOSE, job.id, token):
        raise Forbidden("Missing or invalid job token for this job.")
    return job
