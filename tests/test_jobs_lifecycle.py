"""Accepted work is never lost: a job left running by a crash is re-queued on start-up; old files are purged."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from burntbeats.db import session_scope
from burntbeats.jobs import service
from burntbeats.jobs.runner import purge_expired
from burntbeats.models import Job
from conftest import wait_for


class IdleRunner:
    """Accepts jobs but never runs them: stands in for a server that crashes before finishing."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None: ...
    def notify(self) -> None: ...


def _submit(client, path):
    with open(path, "rb") as fh:
        resp = client.post("/api/stems/split", files={"file": ("a.wav", fh)}, data={"stems": "2", "quality": "fast"})
    assert resp.status_code == 202, resp.text
    return resp.json()


def test_job_left_running_is_requeued_and_finishes(settings, tmp_path):
    path = tmp_path / "a.wav"
    make_tone(path, seconds=2.0)
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        job = _submit(client, path)
        with session_scope(settings.resolved_database_url) as session:
            assert service.claim_next(session) == job["job_id"]  # a worker took it ... and the server died
        status = client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}).json()
        assert status["status"] == "running"

    with TestClient(create_app(settings)) as client:  # restart with real workers
        status = wait_for(client, job["status_url"], job["job_token"])
        assert status["status"] == "succeeded", status
    with session_scope(settings.resolved_database_url) as session:
        assert session.get(Job, job["job_id"]).attempts == 2


def test_finished_job_files_are_purged_after_retention(client, settings, tmp_path):
    path = tmp_path / "a.wav"
    make_tone(path, seconds=1.0)
    job = _submit(client, path)
    assert wait_for(client, job["status_url"], job["job_token"])["status"] == "succeeded"
    job_dir = settings.jobs_dir / job["job_id"]
    assert (job_dir / "stems" / "vocals.wav").exists()

    assert purge_expired(settings) == 0  # still within retention
    with session_scope(settings.resolved_database_url) as session:
        row = session.get(Job, job["job_id"])
        row.finished_at = row.finished_at - timedelta(hours=settings.job_retention_hours + 1)
    assert purge_expired(settings) == 1
    assert not job_dir.exists()
    status = client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}).json()
    assert status["files_expired"] is True and status["stems"] == []
    r = client.get(f"/api/stems/file/{job['job_id']}/vocals.wav", headers={"X-Job-Token": job["job_token"]})
    assert r.status_code == 410


def test_a_failing_job_records_a_readable_error(client, settings, tmp_path):
    path = tmp_path / "a.wav"
    make_tone(path, seconds=1.0)
    job = _submit(client, path)
    # Corrupt the stored input before a worker decodes it (the upload itself was valid).
    (settings.jobs_dir / job["job_id"] / "input").write_bytes(b"garbage" * 10)
    status = wait_for(client, job["status_url"], job["job_token"])
    if status["status"] == "succeeded":  # a worker was faster than us; nothing to check then
        return
    assert status["status"] == "failed"
    assert status["error"] and "Traceback" not in status["error"]
