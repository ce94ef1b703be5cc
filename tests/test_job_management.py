"""Managing songs: rename, search, delete (410 afterwards), expiry times, try again, and time estimates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from burntbeats.db import migrate, session_scope
from burntbeats.jobs import estimate, service
from burntbeats.models import LOCAL_USER_ID, Job, JobStatus, utcnow
from conftest import make_settings, wait_for


class IdleRunner:
    """Accepts jobs and never runs them: they stay queued."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None: ...
    def notify(self) -> None: ...


def _split(client, path, name="a.wav", stems="2", quality="fast"):
    with open(path, "rb") as fh:
        resp = client.post("/api/stems/split", files={"file": (name, fh)}, data={"stems": stems, "quality": quality})
    assert resp.status_code == 202, resp.text
    return resp.json()


def _h(job):
    return {"X-Job-Token": job["job_token"]}


@pytest.fixture
def tone(tmp_path):
    path = tmp_path / "tone.wav"
    make_tone(path, seconds=1.0)
    return path


@pytest.fixture
def idle_client(settings):
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        yield client


def test_rename_and_search(idle_client, tone):
    a = _split(idle_client, tone, "Verse Demo.wav")
    b = _split(idle_client, tone, "chorus_take.wav")
    idle_client.patch(f"/api/jobs/{b['job_id']}", json={"title": "Chorus 100%"}, headers=_h(b))
    r = idle_client.patch(f"/api/jobs/{a['job_id']}", json={"title": "  My   first\tmix  "}, headers=_h(a))
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "My first mix" and r.json()["input_name"] == "Verse Demo.wav"

    def found(q):
        return [j["job_id"] for j in idle_client.get("/api/jobs", params={"q": q}).json()["jobs"]]

    assert found("FIRST MIX") == [a["job_id"]]  # the title, any case
    assert found("verse") == [a["job_id"]]  # the file name still matches
    assert found("100%") == [b["job_id"]]  # % is a plain character, not a wildcard
    assert found("_") == [b["job_id"]]  # in chorus_take.wav; _ matches only itself
    assert set(found("")) == {a["job_id"], b["job_id"]}
    assert found("nothing like it") == []

    assert idle_client.patch(f"/api/jobs/{a['job_id']}", json={"title": ""}, headers=_h(a)).json()["title"] is None
    for bad in ({"title": "x" * 201}, {"title": "a\x00b"}):
        refused = idle_client.patch(f"/api/jobs/{a['job_id']}", json=bad, headers=_h(a))
        assert refused.status_code == 422 and "title" in refused.json()["detail"]
    assert idle_client.patch(f"/api/jobs/{a['job_id']}", json={"title": "x"}, headers=_h(b)).status_code == 403


def test_queued_job_cannot_be_deleted_until_cancelled(idle_client, tone):
    job = _split(idle_client, tone)
    status = idle_client.get(job["status_url"], headers=_h(job)).json()
    assert status["expires_at"] is None  # not known until it ends
    refused = idle_client.delete(f"/api/jobs/{job['job_id']}", headers=_h(job))
    assert refused.status_code == 409 and "cancel it first" in refused.json()["detail"]
    assert idle_client.post(f"/api/jobs/{job['job_id']}/cancel", headers=_h(job)).status_code == 200
    assert idle_client.delete(f"/api/jobs/{job['job_id']}", headers=_h(job)).status_code == 200


def test_delete_removes_the_files_and_the_link_says_so(client, settings, tone):
    job = _split(client, tone, "song.wav")
    done = wait_for(client, job["status_url"], job["job_token"])
    assert done["status"] == "succeeded"
    finished = datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(done["expires_at"])
    assert expires - finished == timedelta(hours=settings.job_retention_hours)
    assert done["stem_count"] == 2 and done["stem_names"] == ["vocals", "instrumental"]
    assert done["duration_s"] == pytest.approx(1.0, abs=0.01)
    assert done["estimate"] is None
    job_dir = settings.jobs_dir / job["job_id"]
    assert (job_dir / "stems" / "vocals.wav").exists()

    r = client.delete(f"/api/jobs/{job['job_id']}", headers=_h(job))
    assert r.status_code == 200 and r.json()["job_id"] == job["job_id"]
    assert not job_dir.exists()
    for url in (job["status_url"], f"/api/jobs/{job['job_id']}", f"/api/stems/file/{job['job_id']}/vocals.wav"):
        gone = client.get(url, headers=_h(job))
        assert gone.status_code == 410 and "was deleted" in gone.json()["detail"], url
    assert client.get(job["status_url"]).status_code == 403  # without its token nothing more is told
    assert job["job_id"] not in [j["job_id"] for j in client.get("/api/jobs").json()["jobs"]]
    assert client.delete(f"/api/jobs/{job['job_id']}", headers=_h(job)).status_code == 410
    never = client.get("/api/stems/status/0123456789abcdef0123456789abcdef", headers=_h(job))
    assert never.status_code == 404 and never.json()["detail"].startswith("No such job")


def test_try_again_resubmits_the_stored_input(settings, tone):
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        job = _split(client, tone, "take.wav", stems="4")
        client.patch(f"/api/jobs/{job['job_id']}", json={"title": "Take one"}, headers=_h(job))
        assert client.post(f"/api/jobs/{job['job_id']}/retry", headers=_h(job)).status_code == 409  # still queued
        client.post(f"/api/jobs/{job['job_id']}/cancel", headers=_h(job))
        gone = _split(client, tone)
        client.post(f"/api/jobs/{gone['job_id']}/cancel", headers=_h(gone))
        (settings.jobs_dir / gone["job_id"] / "input").unlink()
        refused = client.post(f"/api/jobs/{gone['job_id']}/retry", headers=_h(gone))
        assert refused.status_code == 410 and "upload the file again" in refused.json()["detail"]

    with TestClient(create_app(settings)) as client:  # real workers run the new job
        r = client.post(f"/api/jobs/{job['job_id']}/retry", headers=_h(job))
        assert r.status_code == 202, r.text
        again = r.json()
        assert again["job_id"] != job["job_id"] and again["status_url"] == f"/api/stems/status/{again['job_id']}"
        done = wait_for(client, again["status_url"], again["job_token"])
        assert done["status"] == "succeeded" and done["stem_count"] == 4 and done["title"] == "Take one"
        old = client.get(job["status_url"], headers=_h(job)).json()
        assert done["params"] == old["params"] and done["input_name"] == "take.wav"  # the private link is not shown
        assert (settings.jobs_dir / again["job_id"] / "input").read_bytes() == tone.read_bytes()
        assert client.post(f"/api/jobs/{again['job_id']}/retry", headers=_h(again)).status_code == 409  # succeeded
    with session_scope(settings.resolved_database_url) as session:
        assert session.get(Job, again["job_id"]).params["_retry_of"] == job["job_id"]


# -- estimates --------------------------------------------------------------------------------------------------
def test_seconds_left_blends_measured_speed_and_progress():
    assert estimate.seconds_left(None, 0.0, 0.0) is None
    assert estimate.seconds_left(40.0, 10.0, 2.0) == 30.0  # too early for its own rate: the measured one
    assert estimate.seconds_left(None, 10.0, 50.0) == pytest.approx(10.0)  # its own rate only
    # Half-way, both count half: measured says 30 s left, its own rate 10 s.
    assert estimate.seconds_left(40.0, 10.0, 50.0) == pytest.approx(20.0)
    assert estimate.seconds_left(5.0, 10.0, 50.0) == pytest.approx(10.0)  # overran the measured time


def test_speed_is_a_start_up_cost_plus_a_per_second_cost_when_lengths_differ():
    line = estimate.fit_speed([(4.0, 1.52), (60.0, 6.0), (20.0, 2.8)])  # 1.2 s + 0.08 s per second of audio
    assert line.start_s == pytest.approx(1.2, abs=1e-6) and line.per_audio_s == pytest.approx(0.08)
    assert line.x_realtime == pytest.approx(12.5) and line.run_s(100.0) == pytest.approx(9.2)
    origin = estimate.fit_speed([(10.0, 0.5), (20.0, 2.0), (40.0, 4.0)])  # the line would start below zero
    assert origin.start_s == 0.0 and origin.per_audio_s == pytest.approx((5 + 40 + 160) / (100 + 400 + 1600))
    same = estimate.fit_speed([(30.0, 2.0), (30.0, 3.0)])  # lengths too alike for a line: the median ratio
    assert same.start_s == 0.0 and same.per_audio_s == pytest.approx(2.5 / 30)
    assert estimate.fit_speed([]) is None


def _finished(session, kind, params, run_s, audio_s, finished_ago_s=60.0):
    job = service.create_job(session, kind=kind, owner_id=LOCAL_USER_ID,
                             params={**params, "input": {"duration_s": audio_s}})
    end = utcnow() - timedelta(seconds=finished_ago_s)
    job.status, job.started_at, job.finished_at = JobStatus.SUCCEEDED, end - timedelta(seconds=run_s), end
    return job


def test_estimates_come_from_measured_x_realtime(tmp_path):
    settings = make_settings(tmp_path, job_concurrency=1)
    url = settings.resolved_database_url
    migrate(url)
    fast = {"quality": "fast", "stems": 2}
    with session_scope(url) as session:
        service.ensure_local_user(session)
        for run_s in (2.0, 2.5, 3.0):  # 30 s of audio each: 15x, 12x, 10x realtime -> median 12x
            _finished(session, "stems.split", fast, run_s, 30.0)
        _finished(session, "stems.split", {"quality": "best", "stems": 2}, 60.0, 30.0)  # another quality
        running = service.create_job(session, kind="stems.split", owner_id=LOCAL_USER_ID,
                                     params={**fast, "input": {"duration_s": 60.0}})
        running.status, running.started_at, running.progress = JobStatus.RUNNING, utcnow() - timedelta(seconds=1), 0
        session.flush()
        queued = service.create_job(session, kind="stems.split", owner_id=LOCAL_USER_ID,
                                    params={**fast, "input": {"duration_s": 120.0}})
        queued.created_at = running.created_at + timedelta(seconds=1)
    estimate._cache.clear()
    with session_scope(url) as session:
        est = estimate.estimate(session, session.get(Job, queued.id), concurrency=1)
        assert est["x_realtime"] == pytest.approx(12.0) and est["samples"] == 3
        assert est["run_s"] == pytest.approx(10.0)  # 120 s of audio at 12x
        # It waits for the running job (60 s at 12x = 5 s, 1 s of it done), then runs 10 s.
        assert est["seconds_left"] == pytest.approx(14.0, abs=0.3)
        est_running = estimate.estimate(session, session.get(Job, running.id), concurrency=1)
        assert est_running["seconds_left"] == pytest.approx(4.0, abs=0.3) and est_running["run_s"] == 5.0
        best = service.create_job(session, kind="stems.split", owner_id=LOCAL_USER_ID,
                                  params={"quality": "best", "stems": 2, "input": {"duration_s": 30.0}})
        assert estimate.estimate(session, best, concurrency=1)["run_s"] == pytest.approx(60.0)
        unknown = service.create_job(session, kind="speech.enhance", owner_id=LOCAL_USER_ID,
                                     params={"engine": "fast", "input": {"duration_s": 30.0}})
        assert estimate.estimate(session, unknown, concurrency=1) is None  # nothing measured yet
