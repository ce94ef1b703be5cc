"""Submissions racing for the last tokens cannot overdraw: real parallel HTTP requests to a real server (uvicorn on
a socket, in this process), on SQLite and on PostgreSQL.

The balance read is slowed down (a sleep after it) so that every racer is inside admission at once; the control
run takes the account lock away and shows the same race overdrawing, so the test can see what it guards against.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import uvicorn

from billing_helpers import wav_bytes
from burntbeats.accounts import apikeys, users
from burntbeats.api.app import create_app
from burntbeats.billing import ledger, meter
from burntbeats.db import session_scope
from conftest import make_settings
from live_server import free_port
from test_submit import RecordingRunner

RACERS = 10
COST = 15  # a 3 s 2-stem fast split at 600 tokens a minute: 600 x 0.05 x 1 x 0.5
START = 100  # so at most 6 fit (90)


class ServerThread:
    """uvicorn serving `app` on a free port from a thread of this process (so the test can patch the app)."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _race(tmp_path, database_url, monkeypatch, locked: bool) -> tuple[Counter, int, int]:
    """(status counts, final balance, tokens reserved) after RACERS parallel splits of COST tokens each."""
    settings = make_settings(tmp_path, database_url=database_url, usage_tokens_enabled=True, default_plan="studio",
                             stems_token_cost_per_minute=600, allowed_hosts="127.0.0.1")
    real_balance = ledger.balance

    def slow_balance(session, user_id):
        value = real_balance(session, user_id)
        time.sleep(0.3)  # every racer reads, then waits: without the lock they all read the same balance
        return value

    monkeypatch.setattr(ledger, "balance", slow_balance)
    if not locked:
        monkeypatch.setattr(meter.ledger, "lock_account", lambda session, user_id: ledger.find_account(session,
                                                                                                       user_id))
    app = create_app(settings, runner=RecordingRunner())
    with ServerThread(app) as base, httpx.Client(base_url=base, timeout=60) as browser:
        assert browser.get("/health").status_code == 200  # started: the schema exists
        with session_scope(settings.resolved_database_url) as session:
            user = users.create_user(session, "racer@example.com", "racing horse 1")
            _row, key = apikeys.create_key(session, user, "race")
            user_id = user.id
            ledger.append(session, user_id, START, ledger.ADJUST, reason="race tokens")
        payload = wav_bytes(3)
        barrier = threading.Barrier(RACERS)
        statuses: list[int] = []

        def racer() -> None:
            with httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}"}) as client:
                barrier.wait()
                resp = client.post("/api/stems/split", files={"file": ("a.wav", payload)},
                                   data={"stems": "2", "quality": "fast"})
                statuses.append(resp.status_code)

        threads = [threading.Thread(target=racer) for _ in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        with session_scope(settings.resolved_database_url) as session:
            return Counter(statuses), real_balance(session, user_id), ledger.held(session, user_id)


def test_parallel_submissions_cannot_overdraw(tmp_path, database_url, monkeypatch):
    counts, balance, held = _race(tmp_path, database_url, monkeypatch, locked=True)
    print(f"with the lock: {dict(counts)}, balance {balance}, held {held}")
    assert counts == {202: START // COST, 402: RACERS - START // COST}, counts
    assert balance == START - (START // COST) * COST == 10 and held == 90


def test_without_the_account_lock_the_same_race_overdraws(tmp_path, database_url, monkeypatch):
    counts, balance, _held = _race(tmp_path, database_url, monkeypatch, locked=False)
    print(f"without the lock: {dict(counts)}, balance {balance}")
    assert counts[202] > START // COST and balance < 0, (counts, balance)
