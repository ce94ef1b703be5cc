"""JOB_RUNNER=celery with a real Redis (a private redis-server) and real `burntbeats worker` processes, on SQLite
and PostgreSQL: the API only stores, creates rows and publishes; workers run the jobs; the job's lease decides
what a delivered message does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import update

from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from burntbeats.db import migrate, session_scope
from burntbeats.jobs import service
from burntbeats.jobs.celery_app import QUEUES, parse_queues, queue_for, redis_key
from burntbeats.jobs.celery_runner import CeleryRunner
from burntbeats.jobs.celery_worker import HOST, take
from burntbeats.models import LOCAL_USER_ID, Job, utcnow
from conftest import make_settings, wait_for
from services import RedisServer, Worker, describe, post_job, process_tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def celery_settings(tmp_path, redis_server, **overrides):
    prefix = f"t{os.urandom(4).hex()}:"  # every test its own keys in the shared test Redis
    return make_settings(tmp_path, job_runner="celery", celery_broker_url=redis_server.url,
                         celery_key_prefix=prefix, **overrides)


@pytest.fixture(scope="module")
def tone(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    make_tone(path, seconds=1.0)
    return path


def _job(url, job_id) -> Job:
    with session_scope(url) as session:
        return session.get(Job, job_id)


def test_the_api_queues_by_family_and_a_worker_runs_every_kind(tmp_path, redis_server, database_url, tone):
    settings = celery_settings(tmp_path, redis_server, database_url=database_url)
    url = settings.resolved_database_url
    broker = redis.Redis.from_url(redis_server.url)
    before = process_tree(os.getpid())  # Redis, and multiprocessing's resource tracker once a local runner ran
    with TestClient(create_app(settings)) as client:
        jobs = {}
        for family in QUEUES:
            resp = post_job(client, family, tone)
            assert resp.status_code == 202, resp.text
            jobs[family] = resp.json()
        # One message per job, each in its family's queue; nothing runs in the API process.
        assert {q: broker.llen(settings.celery_key_prefix + q) for q in QUEUES} == {q: 1 for q in QUEUES}
        time.sleep(0.5)
        assert all(_job(url, j["job_id"]).status == "queued" for j in jobs.values())
        started = process_tree(os.getpid()) - before
        assert not started, f"processes started under the API: {describe(started)}"  # no workers in the API

        runner = client.app.state.burntbeats.runner
        worker = Worker(settings, tmp_path / "worker.log", queues="stems,speech,midi", concurrency=2)
        try:
            worker.wait_ready()
            (seen,) = runner.workers()  # its presence in Redis (what /health reads)
            assert seen["queues"] == list(QUEUES) and seen["pid"] == worker.proc.pid and seen["concurrency"] == 2
            done = {family: wait_for(client, j["status_url"], j["job_token"], timeout=120)
                    for family, j in jobs.items()}
            pool = worker.pool()
        finally:
            worker.stop()
        assert runner.workers() == []  # a stopping worker says so
        for family, status in done.items():
            assert status["status"] == "succeeded", (family, status, worker.logs()[-3000:])
            row = _job(url, status["job_id"])
            assert row.attempts == 1 and row.lease_owner.startswith(f"{HOST}/")
            assert int(row.lease_owner.split("/")[1]) in pool  # run by one of the worker's pool processes
        stem = done["stems"]["stems"][0]["url"]
        assert client.get(stem).status_code == 200
        assert client.get(done["midi"]["file_url"]).status_code == 200
        assert client.get(done["speech"]["files"]["enhanced"]["wav"]).status_code == 200
        assert {q: broker.llen(settings.celery_key_prefix + q) for q in QUEUES} == {q: 0 for q in QUEUES}


def _queued_job(url: str, kind: str = "stems.split") -> str:
    with session_scope(url) as session:
        service.ensure_local_user(session)
        job = service.create_job(session, kind=kind, owner_id=LOCAL_USER_ID, params={})
        session.commit()
        return job.id


def _expire_lease(url: str, job_id: str) -> None:
    with session_scope(url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()


def test_the_lease_decides_what_a_delivered_message_does(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url, job_max_attempts=2)
    url = settings.resolved_database_url
    migrate(url)
    job_id = _queued_job(url)
    me = f"{HOST}/{os.getpid()}/aaaa"
    assert take(settings, job_id, me) == "run"
    # A duplicate while a live process elsewhere holds the lease: not run.
    with session_scope(url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_owner="elsewhere/1/x"))
        session.commit()
    assert take(settings, job_id, "other/2/b") == "busy"
    assert _job(url, job_id).attempts == 1
    # Its lease ran out: the attempt is counted and the job is taken over.
    _expire_lease(url, job_id)
    assert take(settings, job_id, "other/2/b") == "run"
    row = _job(url, job_id)
    assert row.attempts == 2 and row.lease_owner == "other/2/b"
    # The holder was a process of this host that died (a redelivery after reject_on_worker_lost), and the job
    # had its JOB_MAX_ATTEMPTS: it fails with a sentence.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with session_scope(url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_owner=f"{HOST}/{dead.pid}/c"))
        session.commit()
    assert take(settings, job_id, me) == "failed"
    row = _job(url, job_id)
    assert row.status == "failed" and "2 attempts" in row.error and row.error.endswith(".")
    # Finished or missing: a late duplicate runs nothing.
    assert take(settings, job_id, me) == "failed"
    assert take(settings, "0" * 32, me) == "missing"
    done = _queued_job(url)
    assert take(settings, done, me) == "run"
    with session_scope(url) as session:
        assert service.finish_job(session, done, result={}, owner=me)
    assert take(settings, done, "x/1/y") == "succeeded"


def test_the_sweep_requeues_expired_leases_and_resends_lost_messages(tmp_path, redis_server):
    settings = celery_settings(tmp_path, redis_server, job_lease_s=5)
    url = settings.resolved_database_url
    migrate(url)
    broker = redis.Redis.from_url(redis_server.url)
    stems_queue, midi_queue = (settings.celery_key_prefix + queue_for(k) for k in ("stems.split", "midi.transcribe"))
    runner = CeleryRunner(settings)
    try:
        lost = _queued_job(url, "midi.transcribe")  # queued, but its message never reached Redis
        running = _queued_job(url)
        runner.submit(running)
        assert broker.llen(stems_queue) == 1
        with session_scope(url) as session:
            assert service.claim(session, running, "gone-host/1/x", lease_s=5)
        _expire_lease(url, running)
        assert runner.sweep() == {"requeued": 1, "failed": 0, "republished": 0}  # both younger than SUBMIT_GRACE_S
        with session_scope(url) as session:  # ... once they are no longer being submitted
            session.execute(update(Job).values(created_at=utcnow() - timedelta(seconds=60)))
            session.commit()
        assert runner.sweep() == {"requeued": 0, "failed": 0, "republished": 2}
        assert broker.llen(midi_queue) == 1 and broker.llen(stems_queue) == 2  # the old message is a harmless duplicate
        assert _job(url, running).status == "queued" and _job(url, running).attempts == 1
        assert runner.sweep() == {"requeued": 0, "failed": 0, "republished": 0}  # each sent once
        assert broker.exists(redis_key(settings, "sent", lost))
    finally:
        runner.stop()


def test_worker_command_checks_its_options(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from burntbeats.cli import app
    from burntbeats.settings import get_settings

    assert parse_queues("midi, stems,midi") == ["midi", "stems"]
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2 and "set CELERY_BROKER_URL" in result.output
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["worker", "--queues", "stems,video"])
    assert result.exit_code == 2 and "queues must be a comma list of stems, speech, midi" in result.output
    get_settings.cache_clear()


class _UnreachableQueue:
    """A runner whose broker is down: what CeleryRunner.publish raises then."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def notify(self) -> None: ...

    def submit(self, job_id: str) -> None:
        from burntbeats.errors import ServiceUnavailable

        raise ServiceUnavailable("The job queue (Redis) cannot be reached right now.", retry_after_s=10)


def test_a_withdrawn_submission_refunds_its_token_reservation(tmp_path):
    from billing_helpers import metered_app, signed_up, split, wav_bytes

    with metered_app(tmp_path, runner=_UnreachableQueue()) as (app, settings, _runner):
        ann = signed_up(app, "ann@example.com")
        resp = split(ann, wav_bytes(60))
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "10"
        balance = ann.get("/api/billing/balance").json()
        assert balance["balance"] == 100 and balance["held"] == 0  # reserved, then refunded
        entries = [e["entry"] for e in ann.get("/api/billing/ledger").json()["entries"]]
        assert entries == ["refund", "reserve", "grant"]
        with session_scope(settings.resolved_database_url) as session:
            assert session.query(Job).count() == 0
