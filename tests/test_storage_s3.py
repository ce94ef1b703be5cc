"""S3 storage against a real S3-compatible server (moto's, on loopback): presigned redirects, the local cache,
publishing a staged attempt, the cross-process lock, retention; and the embedded app serving every kind's
files from the bucket."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from burntbeats.db import session_scope
from burntbeats.jobs.runner import purge_expired
from burntbeats.models import Job, utcnow
from burntbeats.storage import get_storage
from burntbeats.storage.s3 import S3Storage
from conftest import make_settings, wait_for
from services import RedisServer, post_job
from test_storage import JOB, file_app


def s3_settings(tmp_path, s3_server, **overrides):
    return make_settings(tmp_path, **s3_server.settings(prefix=f"t{os.urandom(4).hex()}/"), **overrides)


def test_a_file_url_is_a_short_lived_presigned_redirect_with_its_name(tmp_path, s3_server):
    storage = S3Storage(s3_settings(tmp_path, s3_server))
    data = bytes(range(256)) * 8
    storage.put(JOB, "stems/vocals.wav", data)
    answer = file_app(storage, "Sóng - vocals.wav").get("/file", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["cache-control"] == "private, no-store"
    target = answer.headers["location"]
    query = parse_qs(urlparse(target).query)
    assert target.startswith(s3_server.endpoint) and query["X-Amz-Expires"] == ["300"]
    whole = httpx.get(target)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["content-disposition"].startswith('attachment; filename="S_ng - vocals.wav"')
    assert "filename*=UTF-8''S%C3%B3ng%20-%20vocals.wav" in whole.headers["content-disposition"]
    part = httpx.get(target, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]


def test_fetch_caches_by_etag_and_a_worker_gets_its_inputs_locally(tmp_path, s3_server):
    storage = S3Storage(s3_settings(tmp_path, s3_server))
    storage.put(JOB, "input", b"first")
    storage.put(JOB, "sources/01.mid", b"midi")
    path = storage.fetch(JOB, "input")
    assert path.read_bytes() == b"first" and path.parent == storage.job_dir(JOB)
    assert storage.fetch(JOB, "input").stat().st_mtime_ns == path.stat().st_mtime_ns  # a cache hit
    storage.put(JOB, "input", b"second")  # rewritten (a note edit does this to its files)
    assert storage.fetch(JOB, "input").read_bytes() == b"second"
    folder = storage.local_inputs(JOB)
    assert (folder / "input").read_bytes() == b"second" and (folder / "sources/01.mid").read_bytes() == b"midi"
    assert storage.list(JOB) == ["input", "sources/01.mid"]  # the cache's markers are not files of the job


@pytest.mark.parametrize("delete_local", [True, False])
def test_publish_uploads_the_attempt_and_drops_or_keeps_local_copies(tmp_path, s3_server, delete_local):
    storage = S3Storage(s3_settings(tmp_path, s3_server, s3_delete_local_after_upload=delete_local))
    storage.put(JOB, "input", b"in")
    storage.local_inputs(JOB)
    staging = storage.stage(JOB, 1)
    (staging / "stems").mkdir()
    (staging / "stems" / "vocals.wav").write_bytes(b"v")
    (staging / "result.json").write_text("{}")
    (staging / "work").mkdir()
    (staging / "work" / "scratch.bin").write_bytes(b"s")
    storage.publish(JOB, staging)
    assert storage.list(JOB) == ["input", "result.json", "stems/vocals.wav"]
    assert storage.read(JOB, "stems/vocals.wav") == b"v"
    assert storage.job_dir(JOB).exists() is not delete_local
    storage.delete(JOB)
    assert storage.list(JOB) == [] and not storage.job_dir(JOB).exists()


def test_link_copies_within_the_bucket(tmp_path, s3_server):
    storage = S3Storage(s3_settings(tmp_path, s3_server))
    storage.put("d" * 32, "stems/vocals.wav", b"shared")
    storage.link("d" * 32, "stems/vocals.wav", JOB, "input")
    storage.delete("d" * 32)
    assert storage.read(JOB, "input") == b"shared"
    with pytest.raises(FileNotFoundError):
        storage.link("d" * 32, "stems/vocals.wav", JOB, "again")


def test_the_lock_is_held_in_redis_across_processes(tmp_path, s3_server):
    redis_server = RedisServer(tmp_path / "redis")
    try:
        settings = s3_settings(tmp_path, s3_server, celery_broker_url=redis_server.url)
        first, second = S3Storage(settings), S3Storage(settings)
        order: list[str] = []
        with first.lock(JOB, "notes"):
            waiter = threading.Thread(target=lambda: [second.lock(JOB, "notes").__enter__(), order.append("b")])
            waiter.start()
            time.sleep(0.3)
            order.append("a")  # b is still waiting for a's lock
        waiter.join(5)
        assert order == ["a", "b"]
    finally:
        redis_server.stop()


def test_the_app_serves_every_file_from_the_bucket_and_retention_deletes_the_objects(tmp_path, s3_server):
    settings = s3_settings(tmp_path, s3_server)
    tone = tmp_path / "tone.wav"
    make_tone(tone, seconds=1.0)
    with TestClient(create_app(settings)) as client:
        resp = post_job(client, "stems", tone)
        assert resp.status_code == 202, resp.text
        status = wait_for(client, resp.json()["status_url"], resp.json()["job_token"], timeout=120)
        assert status["status"] == "succeeded", status
        job_id = status["job_id"]
        keys = s3_server.keys(f"{settings.s3_prefix}jobs/{job_id}/")
        assert f"{settings.s3_prefix}jobs/{job_id}/input" in keys
        assert f"{settings.s3_prefix}jobs/{job_id}/stems/vocals.wav" in keys
        assert not (settings.jobs_dir / job_id).exists()  # S3_DELETE_LOCAL_AFTER_UPLOAD: no local copy left
        for stem in status["stems"]:
            redirect = client.get(stem["url"], follow_redirects=False)
            assert redirect.status_code == 307, redirect.text
            wav = httpx.get(redirect.headers["location"])
            assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
            # Another format is made on first request from the stored WAV, stored, then redirected to.
            mp3 = client.get(stem["urls"]["mp3"], follow_redirects=False)
            assert mp3.status_code == 307 and httpx.get(mp3.headers["location"]).status_code == 200
        playback = client.get(status["stems"][0]["playback_url"])
        assert playback.status_code == 200, playback.text
        archive = client.get(status["archive_url"])
        assert archive.status_code == 200 and archive.content[:2] == b"PK"

    with session_scope(settings.resolved_database_url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(finished_at=utcnow() - timedelta(days=30)))
        session.commit()
    assert purge_expired(settings) == 1
    assert s3_server.keys(f"{settings.s3_prefix}jobs/{job_id}/") == []
    assert not get_storage(settings).exists(job_id, "input")
