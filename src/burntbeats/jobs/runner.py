"""Job runners: where queued jobs get executed.

`LocalRunner` (the embedded default) keeps a pool of worker processes inside the
app's process tree and a dispatcher thread that claims queued jobs from the
database in order. Inference never runs on the API's event loop, and with
JOB_CONCURRENCY=2 both cores are in use. A scale-out runner (Celery on Redis)
implements the same three methods.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from burntbeats.db import session_scope
from burntbeats.jobs import service
from burntbeats.settings import Settings
from burntbeats.storage import get_storage

log = logging.getLogger(__name__)

_worker_settings: Settings | None = None
WARM_IMPORTS = ("burntbeats.audio", "burntbeats.separation.job")


class JobRunner(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None:
        """Job `job_id` was committed as queued: run it when a slot is free."""
    def notify(self) -> None:
        """A job was queued (or cancelled): look at the queue now."""


def _init_worker(settings_json: str) -> None:
    global _worker_settings
    logging.basicConfig(level=logging.INFO)
    _worker_settings = Settings.model_validate_json(settings_json)
    # Pay the heavy imports (numpy, scipy, PyAV, the engines) once per worker, not in the first job.
    for module in WARM_IMPORTS:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a broken optional engine must not kill the worker
            logging.getLogger(__name__).exception("warm-up import of %s failed", module)


def _ready() -> bool:
    return True


def _run_in_worker(job_id: str) -> str:
    from burntbeats.jobs.worker import execute_job

    assert _worker_settings is not None
    return execute_job(job_id, _worker_settings)


class LocalRunner:
    def __init__(self, settings: Settings, purge_interval_s: float = 600.0) -> None:
        self.settings = settings
        self.concurrency = settings.job_concurrency
        self.purge_interval_s = purge_interval_s
        self._url = settings.resolved_database_url
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[Future, str] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        with session_scope(self._url) as session:
            service.requeue_interrupted(session)
        self._pool = self._new_pool()
        for _ in range(self.concurrency):  # start the worker processes now, not at the first job
            self._pool.submit(_ready)
        self._thread = threading.Thread(target=self._dispatch_loop, name="job-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._pool:
            # Running jobs stay `running` in the database and are re-queued at the next start.
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                proc.terminate()

    def submit(self, job_id: str) -> None:
        # The local dispatcher claims from the database queue in order; waking it is enough.
        self._wake.set()

    def notify(self) -> None:
        self._wake.set()

    # -- internals -------------------------------------------------------
    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: workers never inherit the API's threads or open database connections.
        return ProcessPoolExecutor(
            max_workers=self.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings.model_dump_json(),),
        )

    def _dispatch_loop(self) -> None:
        last_purge = 0.0
        import time

        while not self._stopping.is_set():
            try:
                self._fill_slots()
                if time.monotonic() - last_purge > self.purge_interval_s:
                    last_purge = time.monotonic()
                    purge_expired(self.settings)
            except Exception:  # noqa: BLE001 - the dispatcher must survive a database hiccup
                log.exception("job dispatcher error")
            self._wake.wait(timeout=1.0)
            self._wake.clear()

    def _fill_slots(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if len(self._inflight) >= self.concurrency:
                    return
            with session_scope(self._url) as session:
                job_id = service.claim_next(session)
            if job_id is None:
                return
            assert self._pool is not None
            try:
                future = self._pool.submit(_run_in_worker, job_id)
            except BrokenProcessPool:
                self._pool = self._new_pool()
                future = self._pool.submit(_run_in_worker, job_id)
            with self._lock:
                self._inflight[future] = job_id
            future.add_done_callback(self._on_done)

    def _on_done(self, future: Future) -> None:
        with self._lock:
            job_id = self._inflight.pop(future, None)
        exc = future.exception() if not future.cancelled() else None
        if exc is not None and job_id and not self._stopping.is_set():
            # The worker process died (killed, out of memory): fail the job cleanly.
            log.error("worker for job %s died: %r", job_id, exc)
            from burntbeats.jobs.worker import user_message

            with session_scope(self._url) as session:
                service.finish_job(session, job_id, error=user_message(exc) if not isinstance(exc, BrokenProcessPool)
                                   else "The worker processing this job stopped unexpectedly. Please try again.")
            if isinstance(exc, BrokenProcessPool):
                self._pool = self._new_pool()
        self._wake.set()


def purge_expired(settings: Settings) -> int:
    """Delete the files of jobs finished more than JOB_RETENTION_HOURS ago (the rows stay, marked purged)."""
    storage = get_storage(settings)
    with session_scope(settings.resolved_database_url) as session:
        jobs = service.expired_jobs(session, settings.job_retention_hours)
        for job in jobs:
            storage.delete_job(job.id)
            job.files_purged_at = service.utcnow()
        return len(jobs)


def make_runner(settings: Settings) -> JobRunner:
    if settings.job_runner == "local":
        return LocalRunner(settings)
    raise ValueError(f"unknown JOB_RUNNER {settings.job_runner!r} (expected 'local')")
