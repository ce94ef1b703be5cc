"""Database engine and sessions. SQLite by default, PostgreSQL (or any SQLAlchemy URL) when configured.

One engine per URL and process. The API process configures its pool once at start-up
(:func:`configure`, sizes from settings); worker processes and the CLI get the defaults on first use.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

# What the read-only status code takes: an ORM session, or a plain connection (the hottest poll reads on one,
# without a session's set-up and teardown; api/deps.read_job). Both run execute / scalar on a select.
Reader = Session | Connection


@dataclass(frozen=True)
class PoolOptions:
    size: int = 5  # connections kept open
    overflow: int = 10  # extra connections opened under load, closed when returned
    timeout_s: float = 30.0  # how long a checkout waits for a free connection (then sqlalchemy.exc.TimeoutError)
    busy_timeout_s: float = 30.0  # SQLite: how long a statement waits for another connection's lock


@dataclass(frozen=True)
class _Database:
    engine: Engine
    sessions: sessionmaker[Session]
    options: PoolOptions


_lock = threading.Lock()
_databases: dict[str, _Database] = {}


def _create_engine(url: str, options: PoolOptions) -> Engine:
    pool = {"pool_size": options.size, "max_overflow": options.overflow, "pool_timeout": options.timeout_s}
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        else:
            pool = {}  # in-memory SQLite uses one shared connection (SingletonThreadPool), no sizes
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": options.busy_timeout_s}, **pool
        )
        busy_ms = int(options.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets the API read while worker processes write progress.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def lock_free_reader(url: str) -> Engine | None:
    """SQLite on a file: an engine of ONE connection whose statements never wait for a lock (busy timeout 0),
    for short reads made on an event loop (the loop is one thread: the connection is never shared). A lock is
    an error at once (:func:`is_lock_error`), never a stalled loop; WAL readers rarely meet one. None for an
    in-memory database (another engine would be another database) and for any server database, whose
    reads go over a socket: a worker thread's job."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return _create_engine(url, PoolOptions(size=1, overflow=0, timeout_s=0.0, busy_timeout_s=0.0))


def is_lock_error(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "table is locked" (SQLITE_BUSY, SQLITE_LOCKED), or a pool with no free
    connection: what a lock-free read gives up on, to be retried where waiting is allowed."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and (
        getattr(orig, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        or "locked" in str(orig).lower())


def configure(url: str, options: PoolOptions) -> Engine:
    """The engine for `url` with these pool options (re-created if it was made with others)."""
    with _lock:
        current = _databases.get(url)
        if current is not None and current.options == options:
            return current.engine
        engine = _create_engine(url, options)
        _databases[url] = _Database(engine, sessionmaker(bind=engine, expire_on_commit=False), options)
    if current is not None:
        current.engine.dispose()  # closes its idle connections; sessions still open close theirs when done
    return engine


def _database(url: str) -> _Database:
    db = _databases.get(url)
    if db is None:
        with _lock:
            if url not in _databases:
                engine = _create_engine(url, PoolOptions())
                _databases[url] = _Database(engine, sessionmaker(bind=engine, expire_on_commit=False), PoolOptions())
            db = _databases[url]
    return db


def dispose(url: str) -> None:
    """Close this process's pooled connections to `url` and forget its engine (a database that goes away)."""
    with _lock:
        db = _databases.pop(url, None)
    if db is not None:
        db.engine.dispose()


def get_engine(url: str) -> Engine:
    return _database(url).engine


def session_factory(url: str) -> sessionmaker[Session]:
    return _database(url).sessions


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; run at start-up)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection_url"] = url
    with get_engine(url).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A migration that rebuilds a table (batch mode: create, copy, DROP, rename) would trip the foreign
            # keys of the rows that point at it; SQLite's documented procedure turns them off around the change
            # (outside any transaction, where the pragma is honoured) and checks them before turning them on.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left {len(broken)} rows with broken foreign keys")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
