"""The stems API end to end with real worker processes: 202 -> poll -> files, expand, formats, Range, cancel."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from audio_fixtures import make_song
from burntbeats.audio import read_audio
from conftest import wait_for


def _split(client, path, **form):
    with open(path, "rb") as fh:
        return client.post("/api/stems/split", files={"file": (path.name, fh, "application/octet-stream")},
                           data={k: str(v) for k, v in form.items()})


def _stems_sum(client, status, token):
    total = None
    for stem in status["stems"]:
        resp = client.get(stem["url"])
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "audio/wav"
        audio, sr = sf.read(io.BytesIO(resp.content), dtype="float32", always_2d=True)
        assert sr == 44100
        total = audio if total is None else total + audio
    return total.T


def test_split_two_stems_then_expand_to_four(client, tmp_path):
    song = tmp_path / "My Song.wav"
    make_song(song, seconds=6.0)
    mix, _ = read_audio(song, sample_rate=44100, channels=2)

    resp = _split(client, song, stems=2, quality="fast", bit_depth=24)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    job_id, token = body["job_id"], body["job_token"]

    status = wait_for(client, f"/api/stems/status/{job_id}", token)
    assert status["status"] == "succeeded", status
    assert status["progress"] == 100
    assert status["engine"] == "dsp"
    assert [s["id"] for s in status["stems"]] == ["vocals", "instrumental"]
    total = _stems_sum(client, status, token)
    assert total.shape == mix.shape
    assert np.max(np.abs(total - mix)) < 1e-3  # stems sum back to the mix (24-bit quantisation)

    # The same stem as FLAC and MP3, and a byte range of the WAV.
    for ext, ctype in (("flac", "audio/flac"), ("mp3", "audio/mpeg")):
        r = client.get(f"/api/stems/file/{job_id}/vocals.{ext}", headers={"X-Job-Token": token})
        assert r.status_code == 200 and r.headers["content-type"] == ctype and len(r.content) > 1000
    r = client.get(f"/api/stems/file/{job_id}/vocals.wav?token={token}", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100 and r.content[:4] == b"RIFF"

    # Expand 2 -> 4 stems from the stored original, no re-upload.
    resp = client.post(f"/api/stems/expand/{job_id}", headers={"X-Job-Token": token})
    assert resp.status_code == 202, resp.text
    exp = resp.json()
    status4 = wait_for(client, f"/api/stems/status/{exp['job_id']}", exp["job_token"])
    assert status4["status"] == "succeeded", status4
    assert [s["id"] for s in status4["stems"]] == ["vocals", "drums", "bass", "other"]
    assert status4["parent_id"] == job_id
    total4 = _stems_sum(client, status4, exp["job_token"])
    assert np.max(np.abs(total4 - mix)) < 2e-3  # 16-bit stems (default)

    # A 4-stem job cannot be expanded again.
    r = client.post(f"/api/stems/expand/{exp['job_id']}", headers={"X-Job-Token": exp["job_token"]})
    assert r.status_code == 409

    # History lists both jobs with their tokens.
    jobs = client.get("/api/jobs?kind=stems").json()["jobs"]
    assert {j["job_id"] for j in jobs} >= {job_id, exp["job_id"]}


def test_split_four_stems_mp3_input(client, tmp_path):
    from audio_fixtures import make_tone

    src = tmp_path / "tone.mp3"
    make_tone(src, seconds=3.0, fmt="mp3")
    resp = _split(client, src, stems=4, quality="balanced")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    status = wait_for(client, body["status_url"], body["job_token"])
    assert status["status"] == "succeeded", status
    assert len(status["stems"]) == 4
    assert status["result"]["source"]["codec"] == "mp3"


def test_queue_position_and_cancel(tmp_path):
    from fastapi.testclient import TestClient

    from audio_fixtures import make_song
    from burntbeats.api.app import create_app
    from conftest import make_settings

    settings = make_settings(tmp_path, job_concurrency=1)
    song = tmp_path / "song.wav"
    make_song(song, seconds=20.0)
    with TestClient(create_app(settings)) as client:
        jobs = [_split(client, song, stems=4, quality="best").json() for _ in range(3)]
        last = jobs[-1]
        status = client.get(last["status_url"], headers={"X-Job-Token": last["job_token"]}).json()
        assert status["status"] == "queued" and status["queue_position"] >= 1
        r = client.post(f"/api/jobs/{last['job_id']}/cancel", headers={"X-Job-Token": last["job_token"]})
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        # Cancelling the running one stops it at its next progress report.
        first = jobs[0]
        client.post(f"/api/jobs/{first['job_id']}/cancel", headers={"X-Job-Token": first["job_token"]})
        assert wait_for(client, first["status_url"], first["job_token"])["status"] == "cancelled"
        middle = wait_for(client, jobs[1]["status_url"], jobs[1]["job_token"])
        assert middle["status"] == "succeeded"
        assert client.post(f"/api/jobs/{last['job_id']}/cancel",
                           headers={"X-Job-Token": last["job_token"]}).status_code == 409


def test_health_and_docs(client):
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert "/api/stems/split" in client.get("/openapi.json").json()["paths"]


def test_concurrent_first_downloads_of_an_encoded_stem(client, tmp_path):
    """8 simultaneous first requests for vocals.mp3 / .flac: each encodes under its own temporary name."""
    from concurrent.futures import ThreadPoolExecutor

    song = tmp_path / "song.wav"
    make_song(song, seconds=2.0)
    body = _split(client, song, stems=2, quality="fast").json()
    job_id, token = body["job_id"], body["job_token"]
    assert wait_for(client, f"/api/stems/status/{job_id}", token)["status"] == "succeeded"

    for ext in ("mp3", "flac"):
        url = f"/api/stems/file/{job_id}/vocals.{ext}?token={token}"
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(client.get, [url] * 8))
        assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers if r.status_code != 200]
        assert len({r.content for r in answers}) == 1 and len(answers[0].content) > 1000
        assert client.get(url).content == answers[0].content  # the cached copy is the same file
    leftovers = [p.name for p in (tmp_path / "data" / "jobs").rglob("*.tmp.*")]
    assert leftovers == []
