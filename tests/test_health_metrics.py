"""/health checks each dependency with its latency (503 when one is down); /metrics speaks Prometheus."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from burntbeats.api.app import create_app
from burntbeats.db import session_scope
from burntbeats.jobs import service
from burntbeats.jobs.celery_app import QUEUES
from burntbeats.jobs.celery_worker import Presence
from burntbeats.models import LOCAL_USER_ID, utcnow
from conftest import make_settings
from services import RedisServer


def _by_name(body: dict) -> dict[str, dict]:
    return {dep["name"]: dep for dep in body["dependencies"]}


def _samples(text: str) -> dict[tuple, float]:
    """(sample name, sorted label items) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_local_health_lists_each_dependency_with_its_latency(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["runner"] == "local"
    deps = _by_name(body)
    assert list(deps) == ["database", "storage", "engines"]  # no broker in local mode
    assert all(dep["status"] == "ok" and dep["latency_ms"] >= 0 for dep in deps.values())
    assert deps["database"]["detail"] == "sqlite" and "local worker processes ready" in deps["engines"]["detail"]


def test_celery_health_reports_the_broker_and_workers_and_is_503_when_one_is_down(tmp_path):
    redis_server = RedisServer(tmp_path / "redis")
    try:
        settings = make_settings(tmp_path, job_runner="celery", celery_broker_url=redis_server.url)
        with TestClient(create_app(settings)) as client:
            resp = client.get("/health")  # no worker yet: its jobs would wait
            assert resp.status_code == 503 and resp.json()["status"] == "unavailable"
            engines = _by_name(resp.json())["engines"]
            assert engines["status"] == "down" and "stems, speech, midi queue" in engines["detail"]

            presence = Presence(settings, list(QUEUES), 2)  # what `burntbeats worker` says every 5 s
            presence.start()
            try:
                time.sleep(0.2)
                resp = client.get("/health")
                assert resp.status_code == 200, resp.text
                deps = _by_name(resp.json())
                assert list(deps) == ["database", "broker", "storage", "engines"]
                assert deps["broker"]["status"] == "ok" and deps["engines"]["detail"].startswith("stems: 2")
                metrics = _samples(client.get("/metrics").text)
                assert metrics[("burntbeats_workers", (("queue", "midi"),))] == 2
                assert metrics[("burntbeats_broker_messages", (("queue", "stems"),))] == 0

                redis_server.stop()
                started = time.monotonic()
                resp = client.get("/health")
                assert time.monotonic() - started < 2.0
                assert resp.status_code == 503
                broker = _by_name(resp.json())["broker"]
                assert broker["status"] == "down" and "127.0.0.1" in broker["detail"]
                assert resp.json()["database"] == "ok"
                assert client.get("/metrics").status_code == 200  # the broker's gauges are left out
            finally:
                presence.stopping.set()
    finally:
        redis_server.stop()


def test_a_missing_bucket_is_storage_down(tmp_path, s3_server):
    settings = make_settings(tmp_path, **{**s3_server.settings(), "s3_bucket": "no-such-bucket"})
    with TestClient(create_app(settings)) as client:
        resp = client.get("/health")
    assert resp.status_code == 503
    assert _by_name(resp.json())["storage"]["status"] == "down"
    assert _by_name(resp.json())["database"]["status"] == "ok"


def _finished_job(url: str, kind: str, state: str, engine: str | None, audio_s: float, took_s: float) -> None:
    now = utcnow()
    with session_scope(url) as session:
        service.ensure_local_user(session)
        job = service.create_job(session, kind=kind, owner_id=LOCAL_USER_ID,
                                 params={"input": {"duration_s": audio_s}})
        job.status, job.engine = state, engine
        job.started_at, job.finished_at = now - timedelta(seconds=took_s), now
        session.commit()


def test_metrics_count_jobs_durations_realtime_and_http(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, runner=_NoRunner())) as client:
        url = settings.resolved_database_url
        _finished_job(url, "stems.split", "succeeded", "dsp", audio_s=60.0, took_s=4.0)  # 15 x realtime
        _finished_job(url, "speech.enhance", "failed", None, audio_s=10.0, took_s=1.0)
        with session_scope(url) as session:
            service.create_job(session, kind="midi.transcribe", owner_id=LOCAL_USER_ID, params={})
            session.commit()
        assert client.get("/health").status_code == 200
        resp = client.get("/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        samples = _samples(resp.text)
        assert samples[("burntbeats_jobs", (("kind", "stems.split"), ("state", "succeeded")))] == 1
        assert samples[("burntbeats_jobs", (("kind", "midi.transcribe"), ("state", "queued")))] == 1
        assert samples[("burntbeats_queue_depth", (("queue", "midi"),))] == 1
        assert samples[("burntbeats_queue_depth", (("queue", "stems"),))] == 0
        split = (("kind", "stems.split"), ("state", "succeeded"))
        assert samples[("burntbeats_job_duration_seconds_count", split)] == 1
        assert abs(samples[("burntbeats_job_duration_seconds_sum", split)] - 4.0) < 0.01
        failed = (("kind", "speech.enhance"), ("state", "failed"))
        assert samples[("burntbeats_job_duration_seconds_count", failed)] == 1
        dsp = ("engine", "dsp")
        assert samples[("burntbeats_engine_realtime_factor_bucket", (dsp, ("le", "8.0")))] == 0
        assert samples[("burntbeats_engine_realtime_factor_bucket", (dsp, ("le", "16.0")))] == 1
        health = (("method", "GET"), ("route", "/health"), ("status", "200"))
        assert samples[("burntbeats_http_request_duration_seconds_count", health)] == 1
        # The next scrape counts nothing twice; an unknown path is one label, not one per path.
        client.get("/api/nothing-here")
        client.get("/api/nothing-either")
        again = _samples(client.get("/metrics").text)
        assert again[("burntbeats_job_duration_seconds_count", split)] == 1
        unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
        assert again[("burntbeats_http_request_duration_seconds_count", unmatched)] == 2


class _NoRunner:
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None: ...
    def notify(self) -> None: ...
