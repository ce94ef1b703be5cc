"""The API's side of JOB_RUNNER=celery: publish each new job to its family's queue; never run one.

`submit(job_id)` sends one small message (the job id) to the stems / speech / midi queue and records in
Redis that the job was sent (a key that expires after CELERY_REPUBLISH_S). A broker that cannot be reached
is a :class:`~burntbeats.errors.ServiceUnavailable` within about two seconds, which the submission path
answers with 503 and a sentence, leaving nothing behind.

A sweep thread (no inference) keeps the queue honest, whichever API process gets there first:

- a running job whose lease ran out (its worker, or the whole worker machine, is gone) goes back to the
  queue, or fails with a sentence after JOB_MAX_ATTEMPTS attempts, and is published again;
- a queued job whose "sent" key is missing (Redis restarted without its data, the key expired, or the
  publish failed) is published again; the job's lease makes a duplicate message harmless;
- finished jobs' files are deleted after JOB_RETENTION_HOURS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import select

from burntbeats.db import session_scope
from burntbeats.errors import ServiceUnavailable
from burntbeats.jobs import service
from burntbeats.jobs.celery_app import API_SOCKET_TIMEOUT_S, QUEUES, TASK_NAME, make_celery, queue_for, redis_key
from burntbeats.jobs.runner import LEASE_EXPIRED, purge_expired
from burntbeats.models import Job, JobStatus
from burntbeats.settings import Settings
from burntbeats.storage import get_storage

log = logging.getLogger(__name__)

BROKER_DOWN = ("The job queue (Redis) cannot be reached right now, so the job was not accepted. "
               "Please try again in {retry} seconds.")
BROKER_RETRY_AFTER_S = 10
REPUBLISH_BATCH = 500
SUBMIT_GRACE_S = 10  # a queued job younger than this is still being published by its submission


class CeleryRunner:
    """Implements :class:`burntbeats.jobs.runner.JobRunner` by publishing to Celery queues on Redis."""

    def __init__(self, settings: Settings, purge_interval_s: float = 600.0) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.settings = settings
        self.purge_interval_s = purge_interval_s
        self._url = settings.resolved_database_url
        self._storage = get_storage(settings)
        self.app = make_celery(settings)
        # One try per command, bounded: a broker that is down costs a request well under two seconds.
        self.redis = redis.Redis.from_url(
            settings.celery_broker_url, socket_timeout=API_SOCKET_TIMEOUT_S,
            socket_connect_timeout=API_SOCKET_TIMEOUT_S, retry=Retry(NoBackoff(), 0),
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the runner interface ----------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._sweep_forever, name="celery-sweep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.redis.close()

    def submit(self, job_id: str) -> None:
        with session_scope(self._url) as session:
            kind = session.scalar(select(Job.kind).where(Job.id == job_id))
        if kind is None:
            return
        self.publish(job_id, kind)

    def claim(self, job_id: str, worker_id: str) -> bool:
        with session_scope(self._url) as session:
            return service.claim(session, job_id, worker_id, self.settings.job_lease_s)

    def notify(self) -> None:
        """Nothing to wake: a cancelled job's message is dropped by the worker that receives it."""

    # -- publishing ----------------------------------------------------------
    def publish(self, job_id: str, kind: str) -> None:
        """Send job `job_id` to its queue (ServiceUnavailable when the broker cannot be reached)."""
        from kombu.exceptions import KombuError
        from redis.exceptions import RedisError

        try:
            # One retry on a fresh connection: the pooled one may date from before a broker restart.
            self.app.send_task(TASK_NAME, args=[job_id], queue=queue_for(kind), retry=True,
                               retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0,
                                             "interval_max": 0})
            self.redis.set(self._sent_key(job_id), "1", ex=int(self.settings.celery_republish_s))
        except (KombuError, RedisError, OSError) as exc:
            log.warning("job %s could not be queued: %s", job_id, exc)
            raise ServiceUnavailable(BROKER_DOWN.format(retry=BROKER_RETRY_AFTER_S),
                                     retry_after_s=BROKER_RETRY_AFTER_S) from exc

    def _sent_key(self, job_id: str) -> str:
        return redis_key(self.settings, "sent", job_id)

    # -- the sweep -----------------------------------------------------------
    def _sweep_forever(self) -> None:
        interval = min(self.settings.job_lease_s / 3, 5.0)
        last_purge = time.monotonic()
        while not self._stopping.wait(interval):
            try:
                self.sweep()
                if time.monotonic() - last_purge > self.purge_interval_s:
                    last_purge = time.monotonic()
                    purge_expired(self.settings)
            except Exception as exc:  # noqa: BLE001 - the sweep must survive a database or broker outage
                log.warning("celery sweep: %s", exc)

    def sweep(self) -> dict[str, int]:
        """One pass: re-queue jobs whose lease ran out, publish queued jobs whose message may be lost."""
        requeued = failed = republished = 0
        with session_scope(self._url) as session:
            abandoned = service.abandoned_jobs(session)
        for job_id, owner in abandoned:
            self.redis.delete(self._sent_key(job_id))  # first: a broker outage leaves the job to the next pass
            with session_scope(self._url) as session:
                status = service.retry_or_fail(
                    session, job_id, owner=owner, only_if_expired=True, max_attempts=self.settings.job_max_attempts,
                    error=LEASE_EXPIRED.format(attempts=self.settings.job_max_attempts),
                )
            if status == JobStatus.FAILED:
                failed += 1
                self._storage.discard_stages(job_id)
            elif status == JobStatus.QUEUED:
                requeued += 1  # published below, with the other queued jobs
        # Not the jobs being submitted right now (their message is on its way): queued for a while.
        settled = service.utcnow() - timedelta(seconds=SUBMIT_GRACE_S)
        with session_scope(self._url) as session:
            queued = list(session.execute(
                select(Job.id, Job.kind).where(Job.status == JobStatus.QUEUED, Job.created_at < settled)
                .order_by(Job.created_at).limit(REPUBLISH_BATCH)))
        if queued:
            sent = self.redis.mget([self._sent_key(job_id) for job_id, _kind in queued])
            for (job_id, kind), mark in zip(queued, sent):
                # NX: of several API processes, one sends it.
                if mark is None and self.redis.set(self._sent_key(job_id), "0", nx=True, ex=60):
                    self.publish(job_id, kind)
                    republished += 1
        if requeued or failed or republished:
            log.warning("celery sweep: %d re-queued, %d failed, %d published again", requeued, failed, republished)
        return {"requeued": requeued, "failed": failed, "republished": republished}

    # -- health and metrics ---------------------------------------------------
    def broker_ping(self) -> None:
        self.redis.ping()

    def workers(self) -> list[dict]:
        """The workers that said they are alive in the last few seconds (Presence in celery_worker)."""
        keys = list(self.redis.scan_iter(match=redis_key(self.settings, "workers", "*"), count=100))
        return [json.loads(value) for value in self.redis.mget(keys) if value] if keys else []

    def engines_health(self) -> str:
        """For /health: every queue has a live worker (RuntimeError naming the queues that have none)."""
        workers = self.workers()
        slots = {q: sum(int(w.get("concurrency", 1)) for w in workers if q in w.get("queues", ())) for q in QUEUES}
        missing = [q for q, n in slots.items() if n == 0]
        if missing:
            raise RuntimeError(f"No worker serves the {', '.join(missing)} queue, so its jobs wait: start "
                               f"`burntbeats worker --queues {','.join(missing)}`.")
        return ", ".join(f"{q}: {n}" for q, n in slots.items()) + " worker processes"

    def queue_lengths(self) -> dict[str, int]:
        """Messages waiting in each queue's Redis list (duplicates included)."""
        prefix = self.settings.celery_key_prefix
        pipe = self.redis.pipeline()
        for name in QUEUES:
            pipe.llen(prefix + name)
        return dict(zip(QUEUES, (int(n) for n in pipe.execute())))
