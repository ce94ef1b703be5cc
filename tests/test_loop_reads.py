"""SQLite reads on the event loop (api/database.read_on_loop): they never wait for a lock.

The hottest polls read on the loop's own connection, whose busy timeout is 0: a lock is an error at once,
and the read is then made in a worker thread, where it may wait. A real lock here: another connection
holds `BEGIN EXCLUSIVE` on a database in rollback-journal mode, which keeps readers out (in WAL mode,
the server's own, readers are not kept out by a writer: tests/test_db_faults.py).
"""

from __future__ import annotations

import sqlite3
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from burntbeats import db
from burntbeats.api.database import read_on_loop


def _request(reader) -> SimpleNamespace:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db_loop_reader=reader)))


def _count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM t")).scalar_one()


def test_a_locked_database_is_given_up_at_once_and_read_after(tmp_path):
    path = tmp_path / "rollback-journal.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.execute("INSERT INTO t VALUES (1)")
    setup.close()
    reader = db.lock_free_reader(f"sqlite:///{path}")
    try:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("PRAGMA journal_mode=DELETE")
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        assert read_on_loop(_request(reader), _count) is None  # locked: the caller reads in a thread
        assert time.monotonic() - started < 0.5
        holder.execute("COMMIT")
        holder.close()
        assert read_on_loop(_request(reader), _count) == 1
    finally:
        reader.dispose()


def test_other_database_errors_are_raised_and_servers_get_no_loop_reader(tmp_path):
    reader = db.lock_free_reader(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(sa_exc.OperationalError, match="no such table"):
            read_on_loop(_request(reader), _count)
    finally:
        reader.dispose()
    assert read_on_loop(_request(None), _count) is None
    assert db.lock_free_reader("postgresql://127.0.0.1:5432/test") is None
    assert db.lock_free_reader("sqlite://") is None and db.lock_free_reader("sqlite:///:memory:") is None
