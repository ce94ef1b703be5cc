"""Job runners: where queued jobs get executed.

`LocalRunner` (the embedded default) supervises JOB_CONCURRENCY long-lived worker processes
inside the app's process tree. One supervisor thread claims queued jobs from the database in
order, hands each to an idle worker over its pipe, and watches every worker's process sentinel:
a worker that dies (segfault, SIGKILL, out of memory) takes only its own job with it, which goes
back to the queue (or fails after JOB_MAX_ATTEMPTS), and a fresh worker takes its slot. Each
running job holds a lease its worker's heartbeat renews; a job whose lease ran out (its server
was killed, or a worker stalled) is recovered the same way, by whichever server sweeps first.
The scale-out runner (JOB_RUNNER=celery, jobs/celery_runner.py) implements the same interface: `submit`
publishes a queued job, and `burntbeats worker` (jobs/celery_worker.py) claims it in the process that runs it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Protocol

from burntbeats.billing import retention
from burntbeats.db import session_scope
from burntbeats.jobs import service
from burntbeats.jobs.worker_process import worker_main
from burntbeats.models import JobStatus
from burntbeats.settings import Settings
from burntbeats.storage import get_storage

log = logging.getLogger(__name__)

WORKER_DIED = (
    "The worker processing this job stopped unexpectedly (it may have run out of memory) on each of its "
    "{attempts} attempts, so it was not tried again. Try a shorter file or a faster quality mode."
)
LEASE_EXPIRED = (
    "This job's worker stopped responding on each of its {attempts} attempts, so it was not tried again. "
    "Try a shorter file or a faster quality mode."
)
MAX_RESPAWN_DELAY_S = 30.0


class JobRunner(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None:
        """Job `job_id` was committed as queued: run it when a slot is free."""
    def claim(self, job_id: str, worker_id: str) -> bool:
        """Atomically take queued job `job_id` for `worker_id` (with a lease); False if it was taken."""
    def notify(self) -> None:
        """A job was queued (or cancelled): look at the queue now."""


@dataclass
class _Slot:
    """One worker process and the job it is running (if any)."""

    index: int
    process: multiprocessing.process.BaseProcess | None = None
    conn: Connection | None = None
    ready: bool = False
    job_id: str | None = None
    owner: str | None = None
    failures: int = 0  # consecutive deaths before a worker got ready (a broken install)
    respawn_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


class LocalRunner:
    def __init__(self, settings: Settings, purge_interval_s: float = 600.0) -> None:
        self.settings = settings
        self.concurrency = settings.job_concurrency
        self.purge_interval_s = purge_interval_s
        self.lease_s = settings.job_lease_s
        self.max_attempts = settings.job_max_attempts
        self._url = settings.resolved_database_url
        self._storage = get_storage(settings)
        self._host = socket.gethostname()[:40]
        self._mp = multiprocessing.get_context("spawn")  # workers inherit no threads or open connections
        self._slots = [_Slot(i) for i in range(self.concurrency)]
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None

    # -- the runner interface ----------------------------------------------
    def start(self) -> None:
        self._recover_abandoned()
        self._thread = threading.Thread(target=self._supervise, name="job-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.notify()
        if self._thread:
            self._thread.join(timeout=10)
        for slot in self._slots:
            self._end_worker(slot, signal.SIGTERM)
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(timeout=3)
                self._end_worker(slot, signal.SIGKILL)
            if slot.job_id and slot.owner:
                # Interrupted by the operator, not by the job: back to the queue, the attempt not counted.
                with session_scope(self._url) as session:
                    service.release(session, slot.job_id, slot.owner)
        self._wake_r.close()
        self._wake_w.close()

    def submit(self, job_id: str) -> None:
        # The local supervisor claims from the database queue in order; waking it is enough.
        self.notify()

    def claim(self, job_id: str, worker_id: str) -> bool:
        with session_scope(self._url) as session:
            return service.claim(session, job_id, worker_id, self.lease_s)

    def notify(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # the wake-up buffer is full (the supervisor is already due to look) or closed
            pass

    def engines_health(self) -> str:
        """For /health: the supervisor runs (RuntimeError if not); how many workers are ready."""
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("The job supervisor is not running, so no job can run.")
        ready = sum(1 for slot in self._slots if slot.ready)
        return f"{ready} of {self.concurrency} local worker processes ready"

    def worker_pids(self) -> list[int]:
        return [slot.pid for slot in self._slots if slot.process is not None and slot.pid]

    # -- the supervisor thread ----------------------------------------------
    def _supervise(self) -> None:
        last_sweep = last_purge = time.monotonic()
        sweep_every = min(self.lease_s / 3, 5.0)
        while not self._stopping.is_set():
            try:
                self._spawn_missing()
                self._wait_for_events(timeout=min(1.0, sweep_every))
                for slot in self._slots:
                    if slot.process is not None and not slot.process.is_alive():
                        self._on_worker_death(slot)
                if self._stopping.is_set():
                    break
                self._dispatch()
                now = time.monotonic()
                if now - last_sweep >= sweep_every:
                    last_sweep = now
                    self._recover_abandoned()
                if now - last_purge > self.purge_interval_s:
                    last_purge = now
                    purge_expired(self.settings)
            except Exception:  # the supervisor must survive a database hiccup
                log.exception("job supervisor error")
                time.sleep(1.0)

    def _spawn_missing(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.process is None and now >= slot.respawn_at:
                parent_end, child_end = self._mp.Pipe()
                process = self._mp.Process(
                    target=worker_main,
                    args=(child_end, self.settings.model_dump_json(), os.getpid()),
                    name=f"burntbeats-worker-{slot.index}",
                    daemon=True,
                )
                process.start()  # from this thread: the kernel ends the worker when this thread ends
                child_end.close()
                slot.process, slot.conn, slot.ready = process, parent_end, False

    def _wait_for_events(self, timeout: float) -> None:
        by_conn = {slot.conn: slot for slot in self._slots if slot.conn is not None}
        sentinels = [slot.process.sentinel for slot in self._slots if slot.process is not None]
        for ready in wait([self._wake_r, *by_conn, *sentinels], timeout=timeout):
            if ready is self._wake_r:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            elif ready in by_conn:
                self._read_messages(by_conn[ready])

    def _read_messages(self, slot: _Slot) -> None:
        try:
            while slot.conn is not None and slot.conn.poll():
                message = slot.conn.recv()
                if message[0] == "ready":
                    slot.ready, slot.failures = True, 0
                elif message[0] == "done" and message[1] == slot.job_id:
                    log.info("job %s ended %s in worker %s", slot.job_id, message[2], slot.pid)
                    slot.job_id = slot.owner = None
        except (EOFError, OSError):  # the worker is gone; its sentinel says so too
            pass

    def _on_worker_death(self, slot: _Slot) -> None:
        self._read_messages(slot)  # a job it finished just before dying is not re-run
        assert slot.process is not None
        pid, code = slot.process.pid, slot.process.exitcode
        self._end_worker(slot, signal.SIGKILL)  # anything the job started in its process group
        if slot.conn is not None:
            slot.conn.close()
        if slot.job_id:
            log.error("worker %s died (exit code %s) while running job %s", pid, code, slot.job_id)
            self._retry_or_fail(slot.job_id, owner=slot.owner, message=WORKER_DIED)
        elif not self._stopping.is_set():
            log.warning("worker %s died (exit code %s)", pid, code)
        if not slot.ready:  # died before it could take work: back off rather than spin
            slot.failures += 1
        delay = 0.0 if slot.ready else min(MAX_RESPAWN_DELAY_S, 0.5 * 2 ** slot.failures)
        slot.process = slot.conn = slot.job_id = slot.owner = None
        slot.ready, slot.respawn_at = False, time.monotonic() + delay

    def _end_worker(self, slot: _Slot, sig: int) -> None:
        if slot.process is None or slot.process.pid is None:
            return
        try:
            os.killpg(slot.process.pid, sig)  # the worker leads its own process group
        except (ProcessLookupError, PermissionError):
            pass
        if slot.process.is_alive():  # not yet in its own group (still starting up)
            try:
                os.kill(slot.process.pid, sig)
            except ProcessLookupError:
                pass

    def _dispatch(self) -> None:
        for slot in self._slots:
            if self._stopping.is_set():
                return
            if not slot.ready or slot.job_id is not None or slot.conn is None:
                continue
            owner = f"{self._host}/{slot.pid}/{uuid.uuid4().hex[:8]}"
            with session_scope(self._url) as session:
                job_id = service.claim_next(session, owner, self.lease_s)
            if job_id is None:
                return
            slot.job_id, slot.owner = job_id, owner
            try:
                slot.conn.send((job_id, owner))
            except OSError:  # it just died: the death handler re-queues the job
                pass

    def _recover_abandoned(self) -> None:
        """Re-queue (or fail) running jobs whose lease ran out; kill a worker of ours that stalled."""
        with session_scope(self._url) as session:
            abandoned = service.abandoned_jobs(session)
        for job_id, owner in abandoned:
            mine = next((s for s in self._slots if s.job_id == job_id and s.owner == owner and owner), None)
            if mine is not None:
                log.error("worker %s stopped renewing the lease of job %s; ending it", mine.pid, job_id)
                self._end_worker(mine, signal.SIGKILL)  # its death re-queues the job
                continue
            self._retry_or_fail(job_id, owner=owner, message=LEASE_EXPIRED, only_if_expired=True)

    def _retry_or_fail(self, job_id: str, *, owner: str | None, message: str, only_if_expired: bool = False) -> None:
        with session_scope(self._url) as session:
            status = service.retry_or_fail(
                session, job_id, owner=owner, only_if_expired=only_if_expired, max_attempts=self.max_attempts,
                error=message.format(attempts=self.max_attempts),
            )
        if status == JobStatus.FAILED:
            self._storage.discard_stages(job_id)
            log.error("job %s failed after %d attempts", job_id, self.max_attempts)
        elif status == JobStatus.QUEUED:
            log.warning("job %s re-queued", job_id)


def purge_expired(settings: Settings) -> int:
    """Delete the files of jobs finished more than JOB_RETENTION_HOURS ago, or their plan's retention under
    metering (the rows stay, marked purged)."""
    storage = get_storage(settings)
    with session_scope(settings.resolved_database_url) as session:
        if settings.usage_tokens_enabled:  # each owner's plan says how long (billing/plans.py)
            jobs = retention.expired_jobs(session, settings)
        else:
            jobs = service.expired_jobs(session, settings.job_retention_hours)
        for job in jobs:
            storage.delete_job(job.id)
            job.files_purged_at = service.utcnow()
        return len(jobs)
