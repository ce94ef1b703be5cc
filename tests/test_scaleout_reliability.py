"""The scale-out deployment under load and faults, with real services on loopback: `burntbeats serve`
(JOB_RUNNER=celery) on PostgreSQL, a private redis-server, moto's S3 server, and two `burntbeats worker`
processes, each with its own DATA_DIR (nothing shared but the database, Redis and the bucket).

Every job finishes exactly once (counted in the workers' logs: "succeeded and was published"), a killed
worker's job is redelivered and finishes (or fails after JOB_MAX_ATTEMPTS with a sentence), a stopped Redis
is a quick 503 and nothing more, and a restart of everything loses no job.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from audio_fixtures import make_song, make_tone
from burntbeats.db import session_scope
from burntbeats.models import Job
from conftest import FINAL_STATES
from live_server import LiveServer
from services import RedisServer, Worker, process_tree
from test_postgres import fresh_schema

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

FAMILIES = ("stems", "speech", "midi")
UPLOAD = {"stems": ("/api/stems/split", {"stems": "2", "quality": "fast"}),
          "speech": ("/api/speech/enhance", {}), "midi": ("/api/midi/convert", {})}
PUBLISHED = re.compile(r"job ([0-9a-f]{32}) succeeded and was published")


class Cluster:
    def __init__(self, root: Path, db_url: str, s3) -> None:
        self.root, self.db_url = root, db_url
        self.redis = RedisServer(root / "redis")
        prefix = f"r{os.urandom(4).hex()}/"
        self.env = {
            "JOB_RUNNER": "celery", "CELERY_BROKER_URL": self.redis.url, "DATABASE_URL": db_url,
            **s3.env(prefix), "SECRET_KEY": "cluster-secret", "JOB_LEASE_S": "8", "JOB_MAX_ATTEMPTS": "3",
            "CELERY_VISIBILITY_TIMEOUT_S": "20", "MAX_UPLOAD_MB": "16", "STEMS_MAX_QUEUE_DEPTH": "100",
            "SPEECH_MAX_QUEUE_DEPTH": "100", "MIDI_MAX_QUEUE_DEPTH": "100",
            "DB_POOL_SIZE": "10",  # the machine's PostgreSQL is shared: 200 pollers wait for 10 connections
        }
        self.s3, self.prefix = s3, prefix
        self.api: LiveServer | None = None
        self.workers: list[Worker] = []

    def start_api(self) -> None:
        self.api = LiveServer(self.root / "api-data", self.root / "api.log", env=self.env)

    def start_workers(self, count: int = 2) -> None:
        from burntbeats.settings import Settings

        for i in range(count):
            data = self.root / f"worker{i}-data"
            settings = Settings(_env_file=None, data_dir=data, **{k.lower(): v for k, v in self.env.items()})
            self.workers.append(Worker(settings, self.root / f"worker{i}.log", concurrency=1))
        for worker in self.workers:
            worker.wait_ready()

    def stop_workers(self, hard: bool = False) -> None:
        for worker in self.workers:
            worker.kill() if hard else worker.stop()
        self.workers = []

    def published(self) -> Counter:
        logs = "".join(p.read_text(errors="replace") for p in self.root.glob("worker*.log"))
        return Counter(PUBLISHED.findall(logs))

    def job(self, job_id: str) -> Job:
        with session_scope(self.db_url) as session:
            return session.get(Job, job_id)

    def wait_job(self, job_id: str, until, timeout: float = 90.0, what: str = "") -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if until(job):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never got {what}: {job.status} {job.stage} attempts={job.attempts}")

    def stop(self) -> None:
        self.stop_workers(hard=True)
        if self.api is not None:
            self.api.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    make_tone(folder / "tone.wav", seconds=1.0)
    make_song(folder / "take.flac", seconds=8.0)  # ~3 s of enhancement: long enough to be killed mid-way
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_server):
    with fresh_schema("bb_cluster") as db_url:
        running = Cluster(tmp_path_factory.mktemp("cluster"), db_url, s3_server)
        try:
            running.start_api()
            running.start_workers(2)
            yield running
        finally:
            running.stop()


def submit(base: str, family: str, path: Path) -> httpx.Response:
    url, form = UPLOAD[family]
    with open(path, "rb") as fh:
        return httpx.post(base + url, files={"file": (path.name, fh)}, data=form, timeout=30)


def wait_all(base: str, jobs: list[dict], timeout: float = 180.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    final: dict[str, dict] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        while len(final) < len(jobs) and time.monotonic() < deadline:
            for job in jobs:
                if job["job_id"] not in final:
                    body = client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}).json()
                    if body["status"] in FINAL_STATES:
                        final[job["job_id"]] = body
            time.sleep(0.2)
    assert len(final) == len(jobs), f"{len(jobs) - len(final)} jobs did not finish in {timeout} s"
    return final


async def _status_code(client: httpx.AsyncClient, job: dict) -> int | str:
    """One status poll: its HTTP status, or the name of the transport error."""
    for attempt in (1, 2):
        try:
            return (await client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]})).status_code
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The server closed an idle keep-alive connection (after 5 s; a starved client can be that slow) as
            # this request went out on it: a browser sends it again on a new connection, so do we, once.
            if attempt == 2:
                return type(exc).__name__
        except httpx.TransportError as exc:
            return type(exc).__name__
    raise AssertionError("unreachable")


async def _poll(base: str, jobs: list[dict], pollers: int, stop: threading.Event) -> list[int | str]:
    """`pollers` clients polling the jobs' status (about once a second each) until `stop`."""
    codes: list[int | str] = []
    limits = httpx.Limits(max_connections=pollers, max_keepalive_connections=pollers)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        async def poller(i: int) -> None:
            job = jobs[i % len(jobs)]
            await asyncio.sleep(i / pollers)  # spread the first requests over a second
            while not stop.is_set():
                codes.append(await _status_code(client, job))
                await asyncio.sleep(1.0)

        await asyncio.gather(*(poller(i) for i in range(pollers)))
    return codes


def test_twenty_mixed_jobs_and_two_hundred_pollers_every_job_finishes_once(cluster, audio):
    base = cluster.api.base
    kinds = [FAMILIES[i % 3] for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda f: submit(base, f, audio / "tone.wav"), kinds))
    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers if a.status_code != 202]
    jobs = [a.json() for a in answers]
    stop = threading.Event()
    codes: list[int | str] = []
    pollers = threading.Thread(target=lambda: codes.extend(asyncio.run(_poll(base, jobs, 200, stop))))
    pollers.start()
    try:
        final = wait_all(base, jobs)
    finally:
        stop.set()
        pollers.join(60)
    assert all(body["status"] == "succeeded" for body in final.values()), [
        (b["kind"], b["error"]) for b in final.values() if b["status"] != "succeeded"]
    assert len(codes) >= 200 and set(codes) == {200}, Counter(codes)
    published = cluster.published()
    assert all(published[job["job_id"]] == 1 for job in jobs), published
    pools = set().union(*(w.pool() for w in cluster.workers))
    for job in jobs:
        row = cluster.job(job["job_id"])
        assert row.attempts == 1 and int(row.lease_owner.split("/")[1]) in pools
    assert process_tree(cluster.api.proc.pid) == set()  # the API ran no job
    print(f"20 jobs, 200 pollers: {len(codes)} status answers, all 200")


def _stems_of(base: str, body: dict) -> list[bytes]:
    """Every file URL of a finished stems or speech job, followed to the bucket."""
    urls = [s["url"] for s in body.get("stems", [])] or [f["wav"] for f in body.get("files", {}).values()]
    return [httpx.get(base + url if url.startswith("/") else url, follow_redirects=True, timeout=30).content
            for url in urls]


def test_a_killed_worker_process_job_is_redelivered_and_finishes_or_fails_after_its_attempts(cluster, audio):
    base = cluster.api.base
    job = submit(base, "speech", audio / "take.flac").json()
    row = cluster.wait_job(job["job_id"], lambda j: j.stage == "enhancing" and j.attempts == 1, what="enhancing")
    os.kill(int(row.lease_owner.split("/")[1]), signal.SIGKILL)  # the pool process running it
    early = httpx.get(f"{base}/api/speech/file/{job['job_id']}/enhanced.wav", params={"token": job["job_token"]})
    assert early.status_code == 409  # nothing of the killed attempt is served
    body = wait_all(base, [job])[job["job_id"]]
    assert body["status"] == "succeeded", body
    assert cluster.job(job["job_id"]).attempts == 2 and cluster.published()[job["job_id"]] == 1
    for wav in _stems_of(base, body):
        assert wav[:4] == b"RIFF" and len(wav) > 100_000  # whole files (8 s of audio), not half-written ones
    keys = cluster.s3.keys(f"{cluster.prefix}jobs/{job['job_id']}/")
    assert not any(".attempt-" in key or "/work/" in key for key in keys), keys

    doomed = submit(base, "speech", audio / "take.flac").json()
    for attempt in (1, 2, 3):
        row = cluster.wait_job(doomed["job_id"], lambda j, a=attempt: j.stage == "enhancing" and j.attempts == a,
                               what=f"attempt {attempt}")
        os.kill(int(row.lease_owner.split("/")[1]), signal.SIGKILL)
    body = wait_all(base, [doomed])[doomed["job_id"]]
    assert body["status"] == "failed" and "3 attempts" in body["error"] and body["error"].endswith(".")
    assert cluster.published()[doomed["job_id"]] == 0


def test_redis_stopped_during_submissions_is_a_quick_503_and_work_resumes(cluster, audio):
    base = cluster.api.base
    before = [submit(base, f, audio / "tone.wav") for f in FAMILIES]
    assert all(a.status_code == 202 for a in before)
    cluster.redis.stop()
    for family in FAMILIES:
        started = time.monotonic()
        refused = submit(base, family, audio / "tone.wav")
        took = time.monotonic() - started
        assert refused.status_code == 503 and took < 2.0, (refused.status_code, took)
        assert "cannot be reached" in refused.json()["detail"] and refused.headers["Retry-After"]
    assert httpx.get(base + "/health").status_code == 503
    cluster.redis.start()
    after = [submit(base, f, audio / "tone.wav") for f in FAMILIES]
    assert all(a.status_code == 202 for a in after), [a.text for a in after]
    jobs = [a.json() for a in before + after]
    final = wait_all(base, jobs)
    assert all(b["status"] == "succeeded" for b in final.values())
    assert all(cluster.published()[j["job_id"]] == 1 for j in jobs)


def test_restarting_the_api_and_the_workers_loses_no_job(cluster, audio):
    base = cluster.api.base
    jobs = [submit(base, "speech", audio / "take.flac").json() for _ in range(2)]
    jobs += [submit(base, f, audio / "tone.wav").json() for f in FAMILIES * 2]
    cluster.wait_job(jobs[0]["job_id"], lambda j: j.status == "running", what="running")
    cluster.stop_workers(hard=True)  # the machines vanish: running jobs keep a lease nobody renews
    cluster.api.stop()
    cluster.start_api()
    cluster.start_workers(2)
    final = wait_all(cluster.api.base, jobs)
    assert all(b["status"] == "succeeded" for b in final.values()), [b["error"] for b in final.values()]
    published = cluster.published()
    assert all(published[j["job_id"]] == 1 for j in jobs), published
