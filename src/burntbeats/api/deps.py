"""Shared request dependencies: settings, database session, current user, job access by token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from fastapi import Depends, Header, HTTPException, Query, Request
from sqlalchemy.orm import Session

from burntbeats.db import _session_factory
from burntbeats.jobs import tokens
from burntbeats.jobs.runner import JobRunner
from burntbeats.models import LOCAL_USER_ID, Job
from burntbeats.settings import Settings
from burntbeats.storage import LocalStorage

JOB_TOKEN_PURPOSE = "job"


@dataclass
class AppState:
    settings: Settings
    runner: JobRunner
    storage: LocalStorage
    secret: str


def app_state(request: Request) -> AppState:
    return request.app.state.burntbeats


def db_session(state: AppState = Depends(app_state)) -> Iterator[Session]:
    session = _session_factory(state.settings.resolved_database_url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def current_user_id() -> str:
    """The caller's user id. One local user for now; accounts replace this dependency."""
    return LOCAL_USER_ID


def job_token(state: AppState, job_id: str) -> str:
    return tokens.sign(state.secret, JOB_TOKEN_PURPOSE, job_id)


def provided_token(
    x_job_token: str | None = Header(default=None, description="The job_token returned when the job was created."),
    token: str | None = Query(default=None, description="Alternative to the X-Job-Token header (for <audio src>)."),
) -> str | None:
    return x_job_token or token


def get_job(session: Session, state: AppState, job_id: str, token: str | None, kind_prefix: str | None = None) -> Job:
    """The job if it exists (of the expected kind) and the token matches: else 404 / 403."""
    job = session.get(Job, job_id) if len(job_id) <= 32 else None
    if job is None or (kind_prefix and not job.kind.startswith(kind_prefix)):
        raise HTTPException(status_code=404, detail=f"No such job: {job_id}.")
    if not tokens.verify(state.secret, JOB_TOKEN_PURPOSE, job.id, token):
        raise HTTPException(status_code=403, detail="Missing or invalid job token for this job.")
    return job


def job_access(kind_prefix: str | None = None) -> Callable[..., Job]:
    """A route dependency: the job named by the path's ``{job_id}``, checked as :func:`get_job` does."""

    def dependency(
        job_id: str,
        token: str | None = Depends(provided_token),
        state: AppState = Depends(app_state),
        session: Session = Depends(db_session),
    ) -> Job:
        return get_job(session, state, job_id, token, kind_prefix)

    return dependency
