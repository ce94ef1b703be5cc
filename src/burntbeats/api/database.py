"""The API's database sessions: one per request, and no thread ever waits for the connection pool.

Sync routes and dependencies run in AnyIO's worker threads, and a request's session keeps its
connection from its first query until the dependency's teardown, across several thread hops. If
requests could check out connections freely, threads would block waiting for the pool while the
requests that hold every connection wait for a free thread to finish: the API stops answering (the
classic FastAPI pool / threadpool starvation). So a request first takes one of `DB_POOL_SIZE` slots
on the event loop, holding no thread, and only then gets a session; the pool keeps that many
connections (plus overflow for /health and the job runner), so a checkout never waits for one.
A request that cannot get a slot within `DB_POOL_TIMEOUT_S`, or whose database is locked or
unreachable, gets 503 + Retry-After with a sentence (see :func:`install_database_error_handlers`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.datastructures import State

from burntbeats import db
from burntbeats.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_AFTER_S = 2
# Connections beyond DB_POOL_SIZE for what runs outside request sessions (/health, the job runner's threads).
POOL_OVERFLOW = 10


class DatabaseBusy(Exception):
    """Every request slot stayed taken for DB_POOL_TIMEOUT_S."""


def pool_options(settings: Settings) -> db.PoolOptions:
    return db.PoolOptions(size=settings.db_pool_size, overflow=POOL_OVERFLOW, timeout_s=settings.db_pool_timeout_s,
                          busy_timeout_s=settings.db_busy_timeout_s)


def open_database(app: FastAPI, settings: Settings) -> None:
    """At start-up, in the event loop: the engine with the pool from settings, the request slots, and a
    worker-thread pool as large as the slots (a slot is only useful with a thread to run its queries)."""
    url = settings.resolved_database_url
    app.state.db_engine = db.configure(url, pool_options(settings))
    # SQLite: the hottest polls read on the event loop itself (`read_on_loop`); a hop to a worker thread and
    # back cost more CPU than the read (docs/performance.md). None for PostgreSQL: its reads take a thread.
    app.state.db_loop_reader = db.lock_free_reader(url)
    app.state.db_sessions = db.session_factory(url)
    app.state.db_wait_s = settings.db_pool_timeout_s
    app.state.db_slots = anyio.Semaphore(settings.db_pool_size)
    # Session teardowns get their own threads: they free a slot and must not queue behind new requests.
    app.state.db_teardown_limiter = anyio.CapacityLimiter(settings.db_pool_size)
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, settings.db_pool_size)


@asynccontextmanager
async def request_slot(request: Request) -> AsyncIterator[None]:
    """One of the DB_POOL_SIZE request slots, taken on the event loop (DatabaseBusy after DB_POOL_TIMEOUT_S)."""
    app_state = request.app.state
    slots: anyio.Semaphore = app_state.db_slots
    try:
        slots.acquire_nowait()  # the common case, without a timeout scope's cost
    except anyio.WouldBlock:
        try:
            with anyio.fail_after(app_state.db_wait_s):
                await slots.acquire()
        except TimeoutError:
            raise DatabaseBusy() from None
    try:
        yield
    finally:
        slots.release()


def close_database(app: FastAPI) -> None:
    """At shutdown: the event loop's own connection (the shared pool is the process's, see db.configure)."""
    reader: Engine | None = getattr(app.state, "db_loop_reader", None)
    if reader is not None:
        reader.dispose()
        app.state.db_loop_reader = None


def read_on_loop(request: Request, read: Callable[[Engine], T]) -> T | None:
    """`read(engine)` right here on the event loop, on the lock-free SQLite reader: for reads of a few
    indexed rows, which take less time than a thread hop. None when there is no such reader (PostgreSQL) or
    the database was locked: the caller then reads in a worker thread, where waiting for a lock is allowed."""
    reader: Engine | None = request.app.state.db_loop_reader
    if reader is None:
        return None
    try:
        return read(reader)
    except (sa_exc.OperationalError, sa_exc.TimeoutError) as exc:
        if not db.is_lock_error(exc):
            raise
        return None


def request_engine(request: Request) -> Engine:
    """The database engine, for a read on a plain connection inside a request slot."""
    return request.app.state.db_engine


@asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[Session]:
    """A session for one request: commit when the request succeeded, roll back when it raised."""
    app_state = request.app.state
    async with request_slot(request):
        session = app_state.db_sessions()
        try:
            yield session
        except BaseException:
            await _end(app_state, session, commit=False)
            raise
        await _end(app_state, session, commit=True)


async def _end(app_state: State, session: Session, commit: bool) -> None:
    if commit and _nothing_to_end(session):
        session.close()  # nothing to commit, no I/O, no lock to wait for: not worth a trip to a thread
    else:
        await anyio.to_thread.run_sync(_finish, session, commit, limiter=app_state.db_teardown_limiter)


def _nothing_to_end(session: Session) -> bool:
    """A SQLite session whose connection holds no open transaction (the driver opens none for reads):
    commit and close only hand the connection back to the pool, in this process. PostgreSQL's rollback
    goes over a socket, and a SQLite write's commit may wait for a lock or checkpoint: both in a thread."""
    if session.new or session.dirty or session.deleted:
        return False
    if session.get_transaction() is None:
        return True  # never used: no connection was checked out
    if session.get_bind().dialect.name != "sqlite" or not session.get_transaction().is_active:
        return False
    return not session.connection().connection.dbapi_connection.in_transaction


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": detail}, headers={"Retry-After": str(RETRY_AFTER_S)})


def install_database_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DatabaseBusy)
    async def busy(_request: Request, _exc: DatabaseBusy) -> JSONResponse:
        return _unavailable("The server is busy: too many requests are waiting for the database. "
                            f"Try again in {RETRY_AFTER_S} seconds.")

    @app.exception_handler(sa_exc.TimeoutError)
    async def pool_timeout(_request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        log.warning("database pool exhausted: %s", exc)
        return _unavailable(f"The server is busy: no database connection was free. Try again in {RETRY_AFTER_S} "
                            "seconds.")

    @app.exception_handler(sa_exc.OperationalError)
    async def operational(_request: Request, exc: sa_exc.OperationalError) -> JSONResponse:
        # Locks held too long and lost connections; the driver's message is logged, never sent.
        log.warning("database unavailable: %s", exc.orig)
        if "locked" in str(exc.orig).lower():
            return _unavailable(f"The database is busy (locked by another writer). Try again in {RETRY_AFTER_S} "
                                "seconds.")
        return _unavailable(f"The database is unavailable right now. Try again in {RETRY_AFTER_S} seconds.")
