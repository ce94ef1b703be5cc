"""`burntbeats worker`: a Celery worker that runs jobs from the stems / speech / midi queues.

Each pool process runs one job at a time, exactly as a local worker does (`jobs.worker.execute_job`, with a
heartbeat thread holding the job's lease). A delivered message only names a job; :func:`take` asks the
job's row what to do with it:

- queued: claim it (an atomic UPDATE with a lease for this process) and run it;
- finished or cancelled: a duplicate, or a redelivery after the job ended: acknowledge, run nothing;
- running under a live lease elsewhere: a duplicate (Redis gave the message to a second worker after
  CELERY_VISIBILITY_TIMEOUT_S): acknowledge; should that holder die, its lease runs out and the API's sweep
  queues the job again;
- running under a lease whose holder is gone (its process on this host died, the message came back through
  `reject_on_worker_lost`; or its lease ran out): the attempt is counted, and the job is claimed again, or
  fails with a sentence once it has had JOB_MAX_ATTEMPTS attempts.

So a job never runs twice to completion: only the lease holder can publish and finish it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError

from burntbeats.db import session_scope
from burntbeats.jobs import service
from burntbeats.jobs.celery_app import TASK_NAME, WORKER_REGISTRY_TTL_S, make_celery, redis_key
from burntbeats.jobs.runner import LEASE_EXPIRED, WORKER_DIED
from burntbeats.models import Job, JobStatus, as_utc, utcnow
from burntbeats.settings import Settings
from burntbeats.storage import get_storage

log = logging.getLogger(__name__)

HOST = socket.gethostname()[:40]
DB_RETRY_S = 5  # a message that met an unreachable database comes back after this

_settings: Settings | None = None
_heartbeat = None  # this pool process's Heartbeat (worker_process.Heartbeat), started at fork


def new_owner() -> str:
    """The lease owner for one attempt in this process: "host/pid/token", as the local runner writes it."""
    return f"{HOST}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie not yet reaped by its pool counts as gone
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return not os.path.exists(f"/proc/{pid}") and os.path.exists("/proc/self")


def holder_is_gone(holder: str | None) -> bool:
    """True when the lease `holder` is a process of this host that no longer runs (or this very process,
    which runs one job at a time and is not running that one any more)."""
    if not holder:
        return True
    parts = holder.rsplit("/", 2)
    if len(parts) != 3 or parts[0] != HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    return pid == os.getpid() or _process_gone(pid)


def take(settings: Settings, job_id: str, owner: str) -> str:
    """"run" when `owner` now holds job `job_id`; else why not: "succeeded", "failed", "cancelled",
    "missing" (no such row) or "busy" (a live worker holds it)."""
    url = settings.resolved_database_url
    for _ in range(3):
        with session_scope(url) as session:
            if service.claim(session, job_id, owner, settings.job_lease_s):
                return "run"
            job = session.get(Job, job_id)
            if job is None:
                return "missing"
            if job.status == JobStatus.QUEUED:
                continue  # someone re-queued it between our two statements: claim again
            if job.status != JobStatus.RUNNING:
                return job.status
            holder = job.lease_owner
            expired = job.lease_expires_at is None or as_utc(job.lease_expires_at) < utcnow()
        dead_here = holder_is_gone(holder)
        if not (expired or dead_here):
            return "busy"
        message = WORKER_DIED if dead_here else LEASE_EXPIRED
        with session_scope(url) as session:  # a fresh session: the row read above is not in it
            status = service.retry_or_fail(
                session, job_id, owner=holder, only_if_expired=not dead_here,
                max_attempts=settings.job_max_attempts, error=message.format(attempts=settings.job_max_attempts),
            )
        if status == JobStatus.FAILED:
            get_storage(settings).discard_stages(job_id)
            log.error("job %s failed after %d attempts", job_id, settings.job_max_attempts)
            return JobStatus.FAILED
        if status == JobStatus.QUEUED:
            log.warning("job %s: its previous worker (%s) is gone; running it again", job_id, holder)
    return "busy"


def run_job(task, job_id: str) -> str:
    """The Celery task: take the job, run it under its lease; the message is acknowledged when this returns."""
    from burntbeats.jobs.worker import execute_job

    assert _settings is not None and _heartbeat is not None, "run through `burntbeats worker`"
    owner = new_owner()
    try:
        outcome = take(_settings, job_id, owner)
    except DBAPIError as exc:  # the database is unreachable: keep the message, try again shortly
        log.warning("job %s: the database is unreachable (%s); retrying in %d s", job_id, exc, DB_RETRY_S)
        raise task.retry(countdown=DB_RETRY_S, max_retries=None) from None
    if outcome != "run":
        log.info("job %s: not run (%s)", job_id, outcome)
        return outcome
    lost = _heartbeat.hold(job_id, owner)
    try:
        return execute_job(job_id, _settings, owner=owner, lost=lost)
    finally:
        _heartbeat.release()


# -- the worker process and its pool ------------------------------------------------------------------
def _init_pool_process(**_kwargs) -> None:
    """In each forked pool process: its own process group, warm imports, the lease heartbeat."""
    global _heartbeat
    from burntbeats.jobs.worker_process import Heartbeat, warm_up

    assert _settings is not None
    os.setpgrp()  # ending this process (kill_own_group) ends whatever a job started with it
    warm_up()
    _heartbeat = Heartbeat(_settings.resolved_database_url, _settings.job_lease_s, os.getppid())
    _heartbeat.start()


class Presence(threading.Thread):
    """Says in Redis, every few seconds, that this worker serves its queues (what /health reads)."""

    def __init__(self, settings: Settings, queues: Sequence[str], concurrency: int) -> None:
        super().__init__(name="worker-presence", daemon=True)
        import redis

        self.client = redis.Redis.from_url(settings.celery_broker_url, socket_timeout=2, socket_connect_timeout=2)
        self.key = redis_key(settings, "workers", f"{HOST}-{os.getpid()}")
        self.value = json.dumps({"host": HOST, "pid": os.getpid(), "queues": list(queues),
                                 "concurrency": concurrency, "started_at": datetime.now(UTC).isoformat()})
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.client.set(self.key, self.value, ex=WORKER_REGISTRY_TTL_S)
            except Exception as exc:  # noqa: BLE001 - Redis away: the next beat tries again
                log.warning("worker presence not recorded: %s", exc)
            self.stopping.wait(WORKER_REGISTRY_TTL_S / 3)

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.client.delete(self.key)
        except Exception:  # noqa: BLE001 - Redis away: the key expires by itself
            pass


def run_worker(settings: Settings, queues: Sequence[str], concurrency: int, loglevel: str = "INFO") -> None:
    """Run a Celery worker in this process until it is stopped (SIGTERM: finish running jobs, then exit)."""
    global _settings
    from celery.signals import worker_process_init

    _settings = settings
    os.nice(settings.worker_nice)  # the pool processes inherit it: jobs yield the CPU to an API beside them
    app = make_celery(settings, worker=True)
    app.task(name=TASK_NAME, bind=True)(run_job)
    worker_process_init.connect(_init_pool_process, weak=False)
    presence = Presence(settings, queues, concurrency)
    presence.start()
    started = time.monotonic()
    try:
        app.worker_main([
            "worker", "--queues", ",".join(queues), "--concurrency", str(concurrency), "--pool", "prefork",
            "--loglevel", loglevel, "--hostname", f"{'-'.join(queues)}.{os.getpid()}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ])
    finally:
        presence.stop()
        log.info("worker stopped after %.0f s", time.monotonic() - started)
