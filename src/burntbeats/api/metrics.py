"""What GET /metrics says, in the Prometheus text format (prometheus-client), one registry per app.

- `burntbeats_http_request_duration_seconds{method,route,status}`: every request, timed by a small ASGI
  middleware (the route is the path template, so the label set stays small).
- `burntbeats_jobs{kind,state}`, `burntbeats_queue_depth{queue}` (jobs waiting per family queue),
  `burntbeats_broker_messages{queue}` and `burntbeats_workers{queue}` (JOB_RUNNER=celery): read from the
  database (and Redis) when scraped, so every API process tells the same truth whoever ran the jobs.
- `burntbeats_job_duration_seconds{kind,state}` (started to finished) and
  `burntbeats_engine_realtime_factor{engine}` (seconds of input audio per second of processing, succeeded
  jobs): histograms fed from the jobs that finished since the last scrape (the first scrape reads the history).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from burntbeats.db import session_scope
from burntbeats.jobs.celery_app import QUEUES
from burntbeats.jobs.kinds import family_of
from burntbeats.models import Job, JobStatus, as_utc

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
REALTIME_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
LATE_COMMIT_S = 120  # a job's finished_at is set before its commit: look back this far each scrape


class Metrics:
    def __init__(self, url: str, runner=None) -> None:
        self.url = url
        self.runner = runner
        self.registry = CollectorRegistry(auto_describe=False)
        self.http = Histogram("burntbeats_http_request_duration_seconds", "HTTP requests by route template",
                              ["method", "route", "status"], buckets=HTTP_BUCKETS, registry=self.registry)
        self.durations = Histogram("burntbeats_job_duration_seconds", "Finished jobs, started to finished",
                                   ["kind", "state"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.realtime = Histogram("burntbeats_engine_realtime_factor",
                                  "Seconds of input audio per second of processing (succeeded jobs)", ["engine"],
                                  buckets=REALTIME_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(self))
        self._lock = threading.Lock()
        self._since = datetime(1970, 1, 1, tzinfo=UTC)
        self._seen: dict[str, datetime] = {}
        self._http_children: dict[tuple[str, str, int], object] = {}

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._http_children.get(key)
        if child is None:
            child = self._http_children[key] = self.http.labels(method, route, str(status))
        child.observe(seconds)

    def render(self) -> bytes:
        with self._lock:
            self._observe_finished_jobs()
            return generate_latest(self.registry)

    def _observe_finished_jobs(self) -> None:
        since = self._since - timedelta(seconds=LATE_COMMIT_S)
        query = (select(Job.id, Job.kind, Job.status, Job.engine, Job.started_at, Job.finished_at, Job.params)
                 .where(Job.finished_at.is_not(None), Job.started_at.is_not(None), Job.finished_at >= since)
                 .order_by(Job.finished_at))
        with session_scope(self.url) as session:
            rows = list(session.execute(query))
        for job_id, kind, state, engine, started, finished, params in rows:
            finished = as_utc(finished)
            if job_id in self._seen:
                continue
            self._seen[job_id] = finished
            self._since = max(self._since, finished)
            seconds = max(0.0, (finished - as_utc(started)).total_seconds())
            self.durations.labels(kind, state).observe(seconds)
            audio = ((params or {}).get("input") or {}).get("duration_s")
            if state == JobStatus.SUCCEEDED and engine and audio and seconds > 0:
                self.realtime.labels(engine).observe(float(audio) / seconds)
        horizon = self._since - timedelta(seconds=LATE_COMMIT_S)
        self._seen = {job_id: at for job_id, at in self._seen.items() if at >= horizon}


class _StateCollector:
    """Gauges computed at scrape time from the database (and the broker in celery mode)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("burntbeats_jobs", "Jobs by kind and state", labels=["kind", "state"])
        depth = GaugeMetricFamily("burntbeats_queue_depth", "Jobs waiting to run, per queue", labels=["queue"])
        waiting = dict.fromkeys(QUEUES, 0)
        with session_scope(self.metrics.url) as session:
            counts = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))
            for kind, state, count in counts:
                jobs.add_metric([kind, state], count)
                if state == JobStatus.QUEUED:
                    waiting[family_of(kind).value] += count
        for queue, count in waiting.items():
            depth.add_metric([queue], count)
        yield jobs
        yield depth
        runner = self.metrics.runner
        if runner is not None and hasattr(runner, "queue_lengths"):
            try:
                lengths, workers = runner.queue_lengths(), runner.workers()
            except Exception:  # noqa: BLE001 - the broker is down: /health says so; these gauges are left out
                return
            messages = GaugeMetricFamily("burntbeats_broker_messages", "Messages in each broker queue",
                                         labels=["queue"])
            serving = GaugeMetricFamily("burntbeats_workers", "Worker processes (slots) serving each queue",
                                        labels=["queue"])
            for queue in QUEUES:
                messages.add_metric([queue], lengths.get(queue, 0))
                serving.add_metric([queue], sum(w.get("concurrency", 1) for w in workers if queue in w["queues"]))
            yield messages
            yield serving


class HttpMetricsMiddleware:
    """Times each HTTP request from its first byte in to the end of the handler, labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_http(scope["method"], route, status, time.perf_counter() - started)
