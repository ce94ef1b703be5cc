"""The runner under faults, with real processes: killed and stalled workers, a killed server, a stale worker.

Workers are found through their job's lease (`lease_owner` is "host/pid/token"); processes are
checked through /proc, so no process library is needed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from audio_fixtures import make_song
from burntbeats.api.app import create_app
from burntbeats.db import migrate, session_scope
from burntbeats.jobs import service
from burntbeats.jobs.worker import _publish, execute_job
from burntbeats.models import Job, utcnow
from burntbeats.storage import get_storage
from conftest import make_settings, wait_for
from services import process_tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SPEECH_SECONDS = 8.0  # ~3 s of enhancement on one shared core: long enough to be killed mid-way


# -- helpers ---------------------------------------------------------------------------------------
def _job(url: str, job_id: str) -> Job:
    with session_scope(url) as session:
        return session.get(Job, job_id)


def _wait_job(url: str, job_id: str, until, timeout: float = 30.0, what: str = "") -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(url, job_id)
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {what or 'the expected state'}: {job.status} {job.stage}")


def _worker_pid(job: Job) -> int:
    return int(job.lease_owner.rsplit("/", 2)[1])


def _enhancing(attempt: int):
    return lambda j: j.status == "running" and j.attempts == attempt and j.stage == "enhancing" and j.lease_owner


def _alive(pid: int) -> bool:
    """True for a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _post_speech(client, path: Path) -> dict:
    with open(path, "rb") as fh:
        resp = client.post("/api/speech/enhance", files={"file": (path.name, fh)})
    assert resp.status_code == 202, resp.text
    return resp.json()


def _post_split(client, path: Path) -> dict:
    with open(path, "rb") as fh:
        resp = client.post("/api/stems/split", files={"file": (path.name, fh)}, data={"stems": "2", "quality": "fast"})
    assert resp.status_code == 202, resp.text
    return resp.json()


def _no_staging_left(settings, job_id: str) -> bool:
    return not list((settings.jobs_dir / job_id).glob(".attempt-*"))


@pytest.fixture
def song(tmp_path) -> Path:
    path = tmp_path / "take.flac"
    make_song(path, seconds=SPEECH_SECONDS)
    return path


@pytest.fixture
def long_song(tmp_path) -> Path:
    """Four times `song`: on a quiet machine an 8 s take can finish before a poll sees it running."""
    path = tmp_path / "long-take.flac"
    make_song(path, seconds=4 * SPEECH_SECONDS, seed=1)
    return path


# -- a worker dies -----------------------------------------------------------------------------------
def test_a_killed_worker_takes_only_its_own_job_which_is_retried(tmp_path, song, long_song):
    settings = make_settings(tmp_path)
    url = settings.resolved_database_url
    with TestClient(create_app(settings)) as client:
        bystander = _post_speech(client, long_song)
        running = _wait_job(url, bystander["job_id"], lambda j: j.status == "running" and j.lease_owner,
                            what="running")
        # The bystander's worker is paused until the victim's is killed, so the kill surely happens while both
        # jobs run (on a quiet machine the bystander could otherwise finish while the victim's worker starts).
        bystander_pid = _worker_pid(running)
        os.kill(bystander_pid, signal.SIGSTOP)
        try:
            victim = _post_speech(client, song)
            job = _wait_job(url, victim["job_id"], _enhancing(1), what="enhancing")
            assert _job(url, bystander["job_id"]).status == "running"
            pid = _worker_pid(job)
            killed_at = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            _wait_job(url, victim["job_id"], lambda j: j.attempts == 2 or j.status == "queued", what="re-queued")
            print(f"dead worker noticed and its job re-queued in {time.monotonic() - killed_at:.3f} s")
        finally:
            os.kill(bystander_pid, signal.SIGCONT)

        done = wait_for(client, victim["status_url"], victim["job_token"], timeout=60)
        other = wait_for(client, bystander["status_url"], bystander["job_token"], timeout=60)
        assert done["status"] == "succeeded", done
        assert other["status"] == "succeeded", other
        assert not _alive(pid)
        assert _job(url, victim["job_id"]).attempts == 2
        assert _job(url, bystander["job_id"]).attempts == 1  # never touched by the other worker's death
        assert _job(url, bystander["job_id"]).lease_owner != _job(url, victim["job_id"]).lease_owner
        for job_id in (victim["job_id"], bystander["job_id"]):
            assert _no_staging_left(settings, job_id)
        assert client.get(done["files"]["enhanced"]["wav"]).status_code == 200


def test_a_job_whose_worker_always_dies_fails_after_max_attempts(tmp_path, song):
    settings = make_settings(tmp_path, job_concurrency=1)
    url = settings.resolved_database_url
    assert settings.job_max_attempts == 3
    with TestClient(create_app(settings)) as client:
        job = _post_speech(client, song)
        pids = []
        for attempt in (1, 2, 3):
            row = _wait_job(url, job["job_id"], lambda j, a=attempt: j.status == "running" and j.attempts == a
                            and j.lease_owner, what=f"attempt {attempt}")
            pids.append(_worker_pid(row))
            os.kill(pids[-1], signal.SIGKILL)
        status = wait_for(client, job["status_url"], job["job_token"], timeout=30)
        assert status["status"] == "failed", status
        assert "3 attempts" in status["error"] and status["error"].endswith(".")
        assert _job(url, job["job_id"]).attempts == 3
        assert len(set(pids)) == 3  # a fresh worker each time
        assert _no_staging_left(settings, job["job_id"])  # a failed job keeps no work files

        # The slot was refilled: the next job runs normally.
        again = _post_speech(client, song)
        assert wait_for(client, again["status_url"], again["job_token"], timeout=60)["status"] == "succeeded"


def test_a_stalled_worker_loses_its_lease_and_the_job_is_retried(tmp_path, song):
    settings = make_settings(tmp_path, job_concurrency=1, job_lease_s=4.0)
    url = settings.resolved_database_url
    with TestClient(create_app(settings)) as client:
        job = _post_speech(client, song)
        pid = _worker_pid(_wait_job(url, job["job_id"], _enhancing(1), what="enhancing"))
        stopped_at = time.monotonic()
        os.kill(pid, signal.SIGSTOP)  # alive but silent: no heartbeat
        try:
            _wait_job(url, job["job_id"], lambda j: j.attempts == 2, what="re-claimed")
            print(f"stalled worker's job re-claimed {time.monotonic() - stopped_at:.2f} s after it stopped (lease 4 s)")
        finally:
            if _alive(pid):
                os.kill(pid, signal.SIGCONT)
        assert not _alive(pid)  # the supervisor ended it
        status = wait_for(client, job["status_url"], job["job_token"], timeout=60)
        assert status["status"] == "succeeded", status
        assert _no_staging_left(settings, job["job_id"])


# -- a stale worker -----------------------------------------------------------------------------------
class IdleRunner:
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None: ...
    def notify(self) -> None: ...


def test_a_stale_worker_cannot_publish_or_finish_the_job(tmp_path, song, database_url):
    settings = make_settings(tmp_path, database_url=database_url)
    url = settings.resolved_database_url
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        job_id = _post_speech(client, song)["job_id"]
    out = settings.jobs_dir / job_id / "speech"

    with session_scope(url) as session:
        assert service.claim(session, job_id, "worker-a", lease_s=30)
    result: dict = {}
    stale = threading.Thread(target=lambda: result.update(a=execute_job(job_id, settings, owner="worker-a")))
    stale.start()
    _wait_job(url, job_id, _enhancing(1), what="enhancing")

    # Worker A stalls past its lease; the sweep re-queues the job and worker B claims it.
    with session_scope(url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        assert service.retry_or_fail(session, job_id, max_attempts=3, error="x", only_if_expired=True) == "queued"
        assert service.claim(session, job_id, "worker-b", lease_s=30)
    stale.join(timeout=60)
    assert result["a"] == "running"  # A stopped and left the job to B
    assert not out.exists()  # ... without publishing anything
    with session_scope(url) as session:
        assert not service.report_progress(session, job_id, "x", 50, owner="worker-a")
        assert not service.renew_lease(session, job_id, "worker-a", 30)

    assert execute_job(job_id, settings, owner="worker-b") == "succeeded"
    published = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert set(published) == {"enhanced.wav", "original.wav"}
    row = _job(url, job_id)
    assert row.attempts == 2 and row.lease_owner == "worker-b" and row.lease_expires_at is None

    # A late result from A (staged before it lost the lease) is neither published nor recorded.
    staging = get_storage(settings).stage(job_id, 1)
    (staging / "speech").mkdir()
    (staging / "speech" / "enhanced.wav").write_bytes(b"stale")
    assert _publish(url, get_storage(settings), job_id, "worker-a", staging, {"engine": "stale"}) == "succeeded"
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == published
    assert (out / "enhanced.wav").read_bytes()[:4] == b"RIFF"
    assert not staging.exists()
    with session_scope(url) as session:
        assert not service.finish_job(session, job_id, error="late", owner="worker-a")
    row = _job(url, job_id)
    assert row.status == "succeeded" and row.error is None and row.result["engine"] != "stale"


# -- the server dies ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    cli = Path(sys.executable).with_name("burntbeats")
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(base: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start")


def test_a_killed_server_leaves_no_worker_and_the_job_runs_to_completion_once(tmp_path, song):
    lease_s = 6.0  # 3 s ran out under load avg ~10, when the nice-10 worker's heartbeat thread was starved
    data_dir = tmp_path / "data"
    env = {**os.environ, "DATA_DIR": str(data_dir), "MODELS_DIR": str(tmp_path / "models"),
           "SECRET_KEY": "fault-test", "JOB_CONCURRENCY": "1", "JOB_LEASE_S": str(lease_s)}
    settings = make_settings(tmp_path)  # the same DATA_DIR, for reading the database directly
    url = settings.resolved_database_url
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"

    server = _serve(env, port, log_path)
    try:
        _wait_healthy(base, server)
        with open(song, "rb") as fh:
            resp = httpx.post(f"{base}/api/speech/enhance", files={"file": (song.name, fh)}, timeout=30)
        assert resp.status_code == 202, resp.text
        job = resp.json()
        _wait_job(url, job["job_id"], _enhancing(1), what="enhancing")
        tree = process_tree(server.pid)
        worker = _worker_pid(_job(url, job["job_id"]))
        assert worker in tree
        server.send_signal(signal.SIGKILL)
        server.wait()
        killed_at = time.monotonic()
        while any(_alive(pid) for pid in tree) and time.monotonic() - killed_at < 10:
            time.sleep(0.02)
        survivors = [pid for pid in tree if _alive(pid)]
        assert not survivors, f"processes outlived the server: {survivors}"
        print(f"all {len(tree)} child processes gone {time.monotonic() - killed_at:.3f} s after the server's SIGKILL")
        row = _job(url, job["job_id"])
        assert row.status == "running" and row.attempts == 1  # nobody touched it yet; its lease still runs
        lease_ends = row.lease_expires_at.replace(tzinfo=None)

        restarted_at = time.monotonic()
        server = _serve(env, port, log_path)
        _wait_healthy(base, server)
        print(f"restarted server healthy after {time.monotonic() - restarted_at:.2f} s")
        while utcnow().replace(tzinfo=None) < lease_ends - timedelta(seconds=0.3):
            row = _job(url, job["job_id"])  # not re-run while the old lease may still be held
            assert row.status == "running" and row.attempts == 1, (row.status, row.attempts)
            time.sleep(0.1)
        row = _wait_job(url, job["job_id"], lambda j: j.attempts == 2, what="re-claimed")
        late = (utcnow().replace(tzinfo=None) - lease_ends).total_seconds()
        print(f"re-claimed {late:.2f} s after the old lease ran out")
        headers = {"X-Job-Token": job["job_token"]}
        deadline = time.monotonic() + 60
        while (status := httpx.get(f"{base}{job['status_url']}", headers=headers).json())["status"] not in (
                "succeeded", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status["status"] == "succeeded", status
        row = _job(url, job["job_id"])
        assert row.attempts == 2 and row.lease_expires_at is None
        assert _no_staging_left(settings, job["job_id"])
        assert httpx.get(f"{base}{status['files']['enhanced']['wav']}", timeout=10).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    logs = log_path.read_text(errors="replace")
    assert logs.count(f"job {job['job_id']} succeeded and was published") == 1, logs[-3000:]


def test_start_up_recovers_only_jobs_whose_lease_ran_out(tmp_path, database_url):
    settings = make_settings(tmp_path, job_concurrency=1, database_url=database_url)
    url = settings.resolved_database_url
    tone = tmp_path / "a.flac"
    make_song(tone, seconds=1.0)
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        expired, held = (_post_split(client, tone)["job_id"] for _ in range(2))
    with session_scope(url) as session:  # both were running under a server that was killed
        assert service.claim(session, expired, "dead-server/1/a", lease_s=30)
        assert service.claim(session, held, "dead-server/2/b", lease_s=30)
        session.execute(update(Job).where(Job.id == expired).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    with TestClient(create_app(settings)):
        row = _job(url, held)
        assert row.status == "running" and row.attempts == 1 and row.lease_owner == "dead-server/2/b"
        assert _job(url, expired).status in ("queued", "running")
        done = _wait_job(url, expired, lambda j: j.status == "succeeded", what="succeeded")
        assert done.attempts == 2
        assert _job(url, held).status == "running"  # still waiting for its lease to run out


def test_a_graceful_stop_hands_the_running_job_back(tmp_path, song):
    settings = make_settings(tmp_path, job_concurrency=1)
    url = settings.resolved_database_url
    with TestClient(create_app(settings)) as client:
        job = _post_speech(client, song)
        _wait_job(url, job["job_id"], _enhancing(1), what="enhancing")
    row = _job(url, job["job_id"])
    assert row.status == "queued" and row.attempts == 0 and row.lease_owner is None  # not counted as a failure
    with TestClient(create_app(settings)) as client:
        assert wait_for(client, job["status_url"], job["job_token"], timeout=60)["status"] == "succeeded"
    assert _job(url, job["job_id"]).attempts == 1
    assert _no_staging_left(settings, job["job_id"])


def test_the_parent_check_ends_a_worker_and_its_children_once_the_server_is_gone():
    # The fallback for PR_SET_PDEATHSIG: the heartbeat thread sees its parent is not the one it was started
    # by (here: told a parent it never had) and kills its process group, the job's children included.
    script = (
        "import os, subprocess, time\n"
        "from burntbeats.jobs.worker_process import Heartbeat\n"
        "os.setpgrp()\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "print(child.pid, flush=True)\n"
        "Heartbeat('sqlite://', 30.0, parent_pid=os.getppid() + 1_000_000).start()\n"
        "time.sleep(30)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    child = int(worker.stdout.readline())
    started = time.monotonic()
    assert worker.wait(timeout=10) == -signal.SIGKILL
    while _alive(child) and time.monotonic() - started < 5:
        time.sleep(0.02)
    assert not _alive(child), "the job's child outlived its worker"
    print(f"orphaned worker and its child gone {time.monotonic() - started:.2f} s after it noticed")


def test_a_job_that_fills_the_disk_fails_with_a_sentence():
    from burntbeats.jobs.worker import DISK_FULL, user_message

    with pytest.raises(OSError) as full:  # the kernel's own ENOSPC
        with open("/dev/full", "wb") as fh:
            fh.write(b"x" * 65536)
    assert user_message(full.value) == DISK_FULL


def test_migration_adds_the_lease_columns_to_an_existing_database(tmp_path, database_url):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    import burntbeats.db as db

    url = database_url or make_settings(tmp_path).resolved_database_url
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with db.get_engine(url).begin() as conn:  # a database made before leases existed, with a running job
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO users (id) VALUES ('local')"))
        conn.execute(text(
            "INSERT INTO jobs (id, kind, owner_id, status, progress, stage, params, attempts, created_at) "
            "VALUES ('old', 'stems.split', 'local', 'running', 10, 'separating', '{}', 1, CURRENT_TIMESTAMP)"))
    migrate(url)
    columns = {c["name"] for c in inspect(db.get_engine(url)).get_columns("jobs")}
    assert {"lease_owner", "lease_expires_at", "heartbeat_at"} <= columns
    with session_scope(url) as session:
        assert service.abandoned_jobs(session) == [("old", None)]  # no lease: recovered at the next start
