"""The API keeps answering under many concurrent pollers (a real `burntbeats serve` process).

128 clients poll a job's status (and /health) at once, more clients than worker threads and
pooled connections: every request must be answered, none may time out or get a 5xx. Before the
request sessions waited for slots on the event loop, this froze the server (threads blocked on the
pool while the requests holding connections waited for a thread).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from audio_fixtures import make_tone
from test_postgres import pg_url  # noqa: F401 - a fixture, used by name below

POLLERS = 128
ROUNDS = 4  # requests per poller
TIMEOUT_S = 15.0


@contextmanager
def serve(data_dir: Path, log_path: Path, env: dict[str, str]):
    """`burntbeats serve` on a free port; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    full_env = {**os.environ, "DATA_DIR": str(data_dir), "SECRET_KEY": "load-secret", "JOB_CONCURRENCY": "1", **env}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "burntbeats.cli", "serve", "--port", str(port)],
                                env=full_env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _poll_all(base: str, status_url: str, token: str) -> list[tuple[str, int | str]]:
    limits = httpx.Limits(max_connections=POLLERS, max_keepalive_connections=POLLERS)
    answers: list[tuple[str, int | str]] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=TIMEOUT_S) as client:

        async def poller(i: int) -> None:
            for r in range(ROUNDS):
                # One request in eight is /health: the two share the worker threads and the pool.
                path, headers = ("/health", {}) if (i + r) % 8 == 0 else (status_url, {"X-Job-Token": token})
                try:
                    resp = await client.get(path, headers=headers)
                    answers.append((path, resp.status_code))
                except httpx.HTTPError as exc:
                    answers.append((path, type(exc).__name__))

        await asyncio.gather(*(poller(i) for i in range(POLLERS)))
    return answers


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_128_concurrent_pollers_are_all_answered(tmp_path, request, database):
    make_tone(tmp_path / "a.wav", seconds=1.0)
    # Far fewer request slots (and pooled connections) than pollers, so that requests really queue.
    env = {"DB_POOL_SIZE": "8"}
    if database == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    log = tmp_path / "server.log"
    with serve(tmp_path / "data", log, env=env) as base:
        with open(tmp_path / "a.wav", "rb") as fh:
            resp = httpx.post(f"{base}/api/stems/split", files={"file": ("a.wav", fh)},
                              data={"stems": "2", "quality": "fast"}, timeout=30)
        assert resp.status_code == 202, resp.text
        job = resp.json()
        t0 = time.monotonic()
        answers = asyncio.run(_poll_all(base, job["status_url"], job["job_token"]))
        elapsed = time.monotonic() - t0
        bad = [a for a in answers if a[1] != 200]
        assert len(answers) == POLLERS * ROUNDS
        assert not bad, f"{len(bad)} of {len(answers)} requests not answered with 200: {bad[:10]}"
        assert elapsed < 25, f"{len(answers)} requests took {elapsed:.1f} s"
    assert "Traceback" not in log.read_text(errors="replace")
