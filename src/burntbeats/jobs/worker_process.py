"""The body of one long-lived local worker process: receive a job id over a pipe, run it, say done.

Each worker runs one job at a time, holds its lease through a heartbeat thread, and never outlives
the server: the kernel kills it when its parent dies (PR_SET_PDEATHSIG on Linux), and the heartbeat
thread checks the parent as a fallback. A worker leads its own process group, so whoever ends it
(itself, or the supervisor after a crash) ends anything a job started with it.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

from burntbeats.settings import Settings

log = logging.getLogger(__name__)

WARM_IMPORTS = ("burntbeats.audio", "burntbeats.separation.job")
PARENT_CHECK_S = 0.5
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when the thread that started it exits."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError):
            log.warning("prctl is unavailable; relying on the parent check")
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        kill_own_group()


def kill_own_group() -> None:
    """End this worker and every process a job started under it."""
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


class Heartbeat(threading.Thread):
    """Renews the lease of the job being run every lease/3 seconds, and watches the parent process.

    `hold` returns an event that is set when the lease is lost (the job was cancelled, finished by
    someone else, or taken over after this worker stalled): the job then stops at its next progress
    report and publishes nothing.
    """

    def __init__(self, url: str, lease_s: float, parent_pid: int) -> None:
        super().__init__(name="job-heartbeat", daemon=True)
        self.url = url
        self.lease_s = lease_s
        self.parent_pid = parent_pid
        self._lock = threading.Lock()
        self._held: tuple[str, str, threading.Event] | None = None
        self._renewed_at = 0.0

    def hold(self, job_id: str, owner: str) -> threading.Event:
        lost = threading.Event()
        with self._lock:
            self._held = (job_id, owner, lost)
            self._renewed_at = 0.0  # renew at once: the lease was granted when the job was claimed
        return lost

    def release(self) -> None:
        with self._lock:
            self._held = None

    def run(self) -> None:
        from burntbeats.db import session_scope
        from burntbeats.jobs import service

        interval = self.lease_s / 3
        while True:
            time.sleep(min(PARENT_CHECK_S, interval / 5))
            if os.getppid() != self.parent_pid:
                log.error("the server process is gone; this worker exits")
                kill_own_group()
            with self._lock:
                if self._held is None or time.monotonic() - self._renewed_at < interval:
                    continue
                job_id, owner, lost = self._held
                try:
                    with session_scope(self.url) as session:
                        still_ours = service.renew_lease(session, job_id, owner, self.lease_s)
                except Exception:  # a database hiccup: try again at the next beat
                    log.exception("lease renewal for job %s failed", job_id)
                    continue
                self._renewed_at = time.monotonic()
                if not still_ours:
                    lost.set()
                    self._held = None


def warm_up() -> None:
    # Pay the heavy imports (numpy, scipy, PyAV, the engines) once per worker, not in the first job.
    for module in WARM_IMPORTS:
        try:
            importlib.import_module(module)
        except Exception:  # a broken optional engine must not kill the worker
            log.exception("warm-up import of %s failed", module)


def worker_main(conn: Connection, settings_json: str, parent_pid: int) -> None:
    """Entry point of a worker process (spawned, so it shares no threads or connections with the API)."""
    die_with_parent(parent_pid)
    os.setpgrp()
    logging.basicConfig(level=logging.INFO)
    settings = Settings.model_validate_json(settings_json)
    # Jobs are batch work: below the API process in the CPU scheduler, so status polls stay fast while
    # separations use every core (bench/api.py, docs/performance.md).
    os.nice(settings.worker_nice)
    warm_up()
    from burntbeats.jobs.worker import execute_job

    heartbeat = Heartbeat(settings.resolved_database_url, settings.job_lease_s, parent_pid)
    heartbeat.start()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the supervisor closed the pipe or died
            break
        if message is None:
            break
        job_id, owner = message
        lost = heartbeat.hold(job_id, owner)
        try:
            status = execute_job(job_id, settings, owner=owner, lost=lost)
        except Exception:  # e.g. the database is unreachable; the supervisor re-queues
            log.exception("job %s could not be run", job_id)
            status = "error"
        finally:
            heartbeat.release()
        conn.send(("done", job_id, status))
