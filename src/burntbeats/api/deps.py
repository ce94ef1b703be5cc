"""Shared request dependencies: settings, database session, current user, job access by token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import Depends, Header, Query, Request
from sqlalchemy import Connection, Engine, Row
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from burntbeats.api.auth import Caller, current_caller, request_caller
from burntbeats.api.database import read_on_loop, request_engine, request_session, request_slot
from burntbeats.jobs import access
from burntbeats.jobs.access import JOB_TOKEN_PURPOSE
from burntbeats.jobs.runner import JobRunner
from burntbeats.jobs.tokens import JobTokens

if TYPE_CHECKING:
    from burntbeats.accounts.external import Issuer
    from burntbeats.guard.clamav import Scanner
from burntbeats.models import Job
from burntbeats.settings import Settings
from burntbeats.storage import Storage

__all__ = ["JOB_TOKEN_PURPOSE", "TOKEN_HEADER_HELP", "TOKEN_QUERY_HELP", "AppState", "SessionDep", "StateDep",
           "TokenDep", "TokenHeader", "TokenQuery", "UserIdDep", "app_state", "current_user_id", "db_session",
           "file_token", "job_access", "job_token", "provided_token", "read_job"]

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    runner: JobRunner
    storage: Storage
    secret: str
    tokens: JobTokens
    issuer: Issuer | None = None  # external identity (OIDC_ISSUER)
    scanner: Scanner | None = None  # the malware scan of uploads (CLAMD_SOCKET / CLAMD_HOST)


# The cheap dependencies are `async def` so that FastAPI runs them on the event loop: a plain `def`
# costs a trip through the worker-thread pool on every request.
async def app_state(request: Request) -> AppState:
    return request.app.state.burntbeats


async def db_session(request: Request) -> AsyncIterator[Session]:
    """The request's session (committed when the route succeeds); see burntbeats.api.database."""
    async with request_session(request) as session:
        yield session


async def current_user_id(caller: Caller = Depends(current_caller)) -> str:
    """The caller's user id: the local user when accounts are off (burntbeats.api.auth)."""
    return caller.user_id


def job_token(state: AppState, job: Job) -> str:
    """The job's token (handed out with the job; a signed, expiring one when JOB_TOKEN_SECRET is set)."""
    return state.tokens.job(job)


def file_token(state: AppState, job: Job) -> str:
    """The token for the job's file links (<audio src>, downloads): short-lived when JOB_TOKEN_SECRET is set."""
    return state.tokens.file(job)


TOKEN_HEADER_HELP = "The job_token returned when the job was created."
TOKEN_QUERY_HELP = "Alternative to the X-Job-Token header (for <audio src>)."


# A job's token, as the X-Job-Token header or the `token` query parameter: what a route polled in one read
# (`read_job`) declares itself, and what `provided_token` reads for every other job route.
TokenHeader = Annotated[str | None, Header(description=TOKEN_HEADER_HELP)]
TokenQuery = Annotated[str | None, Query(description=TOKEN_QUERY_HELP)]


async def provided_token(x_job_token: TokenHeader = None, token: TokenQuery = None) -> str | None:
    return x_job_token or token


def job_access(kind: str | None = None, files: bool = False) -> Callable[..., Job]:
    """A route dependency: the job named by the path's ``{job_id}`` (of `kind`, a kind or a family), if it is
    the caller's and the request carries its token (NotFound / Forbidden otherwise). A route serving a file
    (`files`) also takes a file link's token."""
    purposes = access.JOB_OR_FILE if files else access.JOB_ONLY

    def dependency(
        job_id: str,
        request: Request,
        caller: Caller = Depends(current_caller),
        token: str | None = Depends(provided_token),
        session: Session = Depends(db_session, scope="function"),
    ) -> Job:
        # The secret straight from the app state: one dependency fewer to solve on every job request.
        return access.find_job(session, request.app.state.burntbeats.tokens, job_id, token, kind,
                               owner_id=caller.user_id, purposes=purposes)

    return dependency


async def read_job(request: Request, job_id: str, token: str | None, kind: str | None,
                   read: Callable[[Connection, Row], T]) -> T:
    """`read(connection, job)` for the job `job_access` would give, lookup, token check and `read` in one go,
    from an `async def` route: for the hottest polls, where job_access's own thread hop, the sync route's and
    the response validation's (FastAPI validates a sync route's answer in a thread too) cost more CPU than
    the work. `job` is the job's row (`access.find_job_row`: its columns under the model's attribute names,
    read-only). No ORM session: on SQLite the event loop's own lock-free connection (`read_on_loop`); on
    PostgreSQL, or when a lock is in the way, a connection from the pool in a request slot, in ONE
    worker-thread call. `read` must only read, and never return None."""

    owner_id = request_caller(request).user_id  # resolved by the router's dependency (burntbeats.api.app)

    def run(engine: Engine) -> T:
        with engine.connect() as connection:
            return read(connection, access.find_job_row(connection, request.app.state.burntbeats.tokens, job_id,
                                                        token, kind, owner_id=owner_id))

    # SQLite: on the event loop, unless a lock is in the way (every read of the poll is on indexed rows).
    if (answer := read_on_loop(request, run)) is not None:
        return answer
    async with request_slot(request):
        return await run_in_threadpool(run, request_engine(request))


# Annotated aliases: what a route declares it needs, in one word.
StateDep = Annotated[AppState, Depends(app_state)]
# Function scope: the session commits when the route returns, before the answer is sent (FastAPI's default
# "request" scope ends it after the response, so a client could act on an answer whose rows were not yet there).
SessionDep = Annotated[Session, Depends(db_session, scope="function")]
UserIdDep = Annotated[str, Depends(current_user_id)]
TokenDep = Annotated[str | None, Depends(provided_token)]
