"""The API keeps answering under many concurrent pollers (a real `burntbeats serve` process).

128 clients poll a job's status (and /health) at once, more clients than worker threads and
pooled connections: every request must be answered, none may time out or get a 5xx. Before the
request sessions waited for slots on the event loop, this froze the server (threads blocked on the
pool while the requests holding connections waited for a thread).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from audio_fixtures import make_tone
from live_server import LiveServer
from test_postgres import pg_url  # noqa: F401 - a fixture, used by name below

POLLERS = 128
ROUNDS = 4  # requests per poller
TIMEOUT_S = 15.0


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
    with LiveServer(tmp_path / "data", tmp_path / "server.log", env=env) as server:
        with open(tmp_path / "a.wav", "rb") as fh:
            resp = server.client.post("/api/stems/split", files={"file": ("a.wav", fh)},
                                      data={"stems": "2", "quality": "fast"})
        assert resp.status_code == 202, resp.text
        job = resp.json()
        t0 = time.monotonic()
        answers = asyncio.run(_poll_all(server.base, job["status_url"], job["job_token"]))
        elapsed = time.monotonic() - t0
        bad = [a for a in answers if a[1] != 200]
        assert len(answers) == POLLERS * ROUNDS
        assert not bad, f"{len(bad)} of {len(answers)} requests not answered with 200: {bad[:10]}"
        assert elapsed < 25, f"{len(answers)} requests took {elapsed:.1f} s"
        assert "Traceback" not in server.logs()


def _children(pid: int) -> list[tuple[int, int, str]]:
    """(pid, nice, command line) of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(entry.name), int(fields[16]), cmdline))
    return found


def test_job_workers_run_below_the_api(tmp_path):
    """Separations yield the CPU to the API's answers: worker processes run WORKER_NICE (default 10) below the
    server (os.nice is relative: under a test run that is itself niced, they are that much lower still)."""
    want = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    with LiveServer(tmp_path / "data", tmp_path / "server.log", env={"JOB_CONCURRENCY": "2"}) as server:
        deadline = time.monotonic() + 30
        while True:
            workers = [c for c in _children(server.proc.pid) if "spawn_main" in c[2]]
            # A worker lowers its priority as it starts (before its warm-up imports): wait for that.
            ready = len(workers) >= 2 and all(nice == want for _pid, nice, _cmd in workers)
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, _children(server.proc.pid)
        assert all(nice == want for _pid, nice, _cmd in workers), workers
        assert os.getpriority(os.PRIO_PROCESS, server.proc.pid) == os.getpriority(os.PRIO_PROCESS, 0)
