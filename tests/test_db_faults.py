"""A locked SQLite database: requests wait for it or answer 503 + Retry-After with a sentence, never 500.

Another process holds `BEGIN EXCLUSIVE` on the server's database for 10 s (a backup tool, a stuck
writer) while requests arrive at a real `burntbeats serve`. In WAL mode readers go on; writers wait
up to DB_BUSY_TIMEOUT_S: by default (30 s) they wait the lock out and succeed, with a short timeout
they get a 503 the client can retry. Nothing answers 500, and the server works normally afterwards.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from audio_fixtures import make_tone
from conftest import FINAL_STATES
from live_server import LiveServer

LOCK_S = 10.0


def _split(base: str, wav: bytes) -> httpx.Response:
    return httpx.post(f"{base}/api/stems/split", files={"file": ("a.wav", wav)},
                      data={"stems": "2", "quality": "fast"}, timeout=60)


def _wait_done(client: httpx.Client, job: dict) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}).json()
        if body["status"] in FINAL_STATES:
            return body
        time.sleep(0.2)
    raise AssertionError(f"job did not finish: {body}")


def _hold_exclusive_lock(db_path, locked: threading.Event) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(LOCK_S)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _check_answer(resp: httpx.Response) -> None:
    assert resp.status_code < 500 or resp.status_code == 503, f"{resp.status_code}: {resp.text}"
    if resp.status_code == 503:
        detail = resp.json()["detail"]
        assert detail.endswith(".") and " " in detail, detail
        assert "Traceback" not in detail and "sqlite" not in detail.lower()
        assert int(resp.headers["Retry-After"]) > 0


@pytest.mark.parametrize("busy_timeout_s", [30, 2], ids=["writers-wait", "writers-get-503"])
def test_locked_database_waits_or_503_never_500(tmp_path, busy_timeout_s):
    wav_path = tmp_path / "a.wav"
    make_tone(wav_path, seconds=1.0)
    wav = wav_path.read_bytes()
    env = {"DB_BUSY_TIMEOUT_S": str(busy_timeout_s)}
    with LiveServer(tmp_path / "data", tmp_path / "server.log", env=env) as server:
        resp = _split(server.base, wav)
        assert resp.status_code == 202, resp.text
        done = resp.json()
        assert _wait_done(server.client, done)["status"] == "succeeded"
        token = {"X-Job-Token": done["job_token"]}

        locked = threading.Event()
        holder = threading.Thread(target=_hold_exclusive_lock, args=(tmp_path / "data" / "burntbeats.db", locked))
        holder.start()
        assert locked.wait(10)
        t_locked = time.monotonic()
        with ThreadPoolExecutor(max_workers=12) as pool:
            writes = [pool.submit(_split, server.base, wav) for _ in range(3)]
            writes.append(pool.submit(httpx.post, f"{server.base}/api/stems/expand/{done['job_id']}",
                                      headers=token, timeout=60))
            reads = [pool.submit(httpx.get, server.base + path, headers=token, timeout=60)
                     for path in [done["status_url"], f"/api/jobs/{done['job_id']}", "/health"] * 3]
            read_answers = [f.result() for f in reads]
            reads_done_s = time.monotonic() - t_locked
            write_answers = [f.result() for f in writes]
            writes_done_s = time.monotonic() - t_locked
        holder.join()

        for resp in read_answers + write_answers:
            _check_answer(resp)
        # Readers are not blocked by a writer in WAL mode.
        assert all(r.status_code == 200 for r in read_answers), [r.text for r in read_answers]
        assert reads_done_s < LOCK_S - 2, f"reads took {reads_done_s:.1f} s"
        statuses = sorted(r.status_code for r in write_answers)
        if busy_timeout_s > LOCK_S:
            assert statuses == [202] * 4, [r.text for r in write_answers]
            assert writes_done_s >= LOCK_S - 1.5, "the writes should have waited for the lock"
        else:
            assert statuses == [503] * 4, [r.text for r in write_answers]
            assert writes_done_s < LOCK_S, f"503s took {writes_done_s:.1f} s"

        # Afterwards the server works normally.
        resp = _split(server.base, wav)
        assert resp.status_code == 202, resp.text
        assert _wait_done(server.client, resp.json())["status"] == "succeeded"
        assert " 500 " not in server.logs()
