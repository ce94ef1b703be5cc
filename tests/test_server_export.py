"""Server-side master export ("render on server"): the mix math, the job and its API."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from burntbeats.separation.mixdown import StemMix, effective_gains, mix_files, pan_matrix

try:
    from conftest import make_settings, wait_for
except ImportError:  # tests/ as a package
    from tests.conftest import make_settings, wait_for

RATE = 44100


def _wav_bytes(seconds: float = 2.0, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)
    right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sign(np.sin(2 * np.pi * 2 * t)) * np.sin(2 * np.pi * 5000 * t)
    buf = io.BytesIO()
    sf.write(buf, np.stack([left, right], axis=1).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# ---------------------------------------------------------------- pure mix rules


def test_solo_and_mute_rules_match_the_browser():
    stems = {"vocals": StemMix(gain=0.8), "drums": StemMix(mute=True), "bass": StemMix(solo=True, gain=0.5),
             "other": StemMix()}
    assert effective_gains(stems) == {"vocals": 0.0, "drums": 0.0, "bass": 0.5, "other": 0.0}
    # Mute wins over solo.
    assert effective_gains({"a": StemMix(solo=True, mute=True), "b": StemMix()}) == {"a": 0.0, "b": 0.0}
    # No solo: everything not muted is heard at its gain.
    assert effective_gains({"a": StemMix(gain=2.0), "b": StemMix(mute=True)}) == {"a": 2.0, "b": 0.0}


def test_pan_matrix_is_the_stereo_panner_node_law():
    np.testing.assert_allclose(pan_matrix(0.0, 2), [[1, 0], [0, 1]], atol=1e-12)
    np.testing.assert_allclose(pan_matrix(-1.0, 2), [[1, 0], [1, 0]], atol=1e-12)
    np.testing.assert_allclose(pan_matrix(1.0, 2), [[0, 1], [0, 1]], atol=1e-12)
    half = pan_matrix(0.5, 2)
    np.testing.assert_allclose(half, [[math.cos(math.pi / 4), math.sin(math.pi / 4)], [0, 1]], atol=1e-12)
    # Mono in: equal power, centre = -3 dB on both sides.
    np.testing.assert_allclose(pan_matrix(0.0, 1), [[math.sqrt(0.5), math.sqrt(0.5)]], atol=1e-12)
    left, right = pan_matrix(0.3, 1)[0]
    assert left**2 + right**2 == pytest.approx(1.0)


def test_mix_files_streams_blocks_and_sums(tmp_path: Path):
    n = 10_000
    a = np.full((n, 2), 0.25, dtype=np.float32)
    b = np.zeros((n // 2, 2), dtype=np.float32)  # shorter stem: zero-padded
    b[:, 1] = 0.5
    sf.write(tmp_path / "a.wav", a, 8000, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", b, 8000, subtype="FLOAT")
    seen: list[float] = []
    facts = mix_files(
        {"a": tmp_path / "a.wav", "b": tmp_path / "b.wav"},
        {"a": StemMix(gain=2.0, pan=-1.0), "b": StemMix()},
        0.5, tmp_path / "out.wav", block_frames=1024, progress=seen.append,
    )
    out, rate = sf.read(tmp_path / "out.wav", dtype="float64")
    assert rate == 8000 and out.shape == (n, 2)
    # a: gain 2 -> 0.5 per side, hard left -> L = 0.5 + 0.5, R = 0 ; b: R = 0.5 for the first half ; master 0.5.
    np.testing.assert_allclose(out[: n // 2], np.tile([0.5, 0.25], (n // 2, 1)), atol=1e-4)
    np.testing.assert_allclose(out[n // 2:], np.tile([0.5, 0.0], (n - n // 2, 1)), atol=1e-4)
    assert facts["frames"] == n and facts["clipped_samples"] == 0
    assert len(seen) == math.ceil(n / 1024) and seen[-1] == 1.0


# ---------------------------------------------------------------- the API


def _split(client: TestClient) -> tuple[str, str, dict]:
    resp = client.post(
        "/api/stems/split",
        files={"file": ("song.wav", _wav_bytes(), "audio/wav")},
        data={"stems": "2", "quality": "fast"},
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    done = wait_for(client, body["status_url"], body["job_token"])
    assert done["status"] == "succeeded", done
    return body["job_id"], body["job_token"], done


def _stem(client: TestClient, url: str) -> np.ndarray:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    data, _ = sf.read(io.BytesIO(resp.content), dtype="float64", always_2d=True)
    return data


def test_server_export_renders_the_mixer_settings(client: TestClient):
    job_id, token, done = _split(client)
    names = [s["id"] for s in done["stems"]]
    assert names == ["vocals", "instrumental"]
    settings = {"vocals": {"gain": 0.5, "pan": -0.5, "mute": False, "solo": False},
                "instrumental": {"gain": 1.0, "pan": 0.25, "mute": False, "solo": False}}
    resp = client.post("/api/stems/server-export", json={
        "job_id": job_id, "job_token": token, "format": "wav", "stems": settings, "master_gain": 0.8,
    })
    assert resp.status_code == 202, resp.text
    exp = resp.json()
    assert exp["job_id"] != job_id and exp["status_url"] == f"/api/stems/server-export/{exp['job_id']}"
    result = wait_for(client, exp["status_url"], exp["job_token"])
    assert result["status"] == "succeeded", result
    assert result["kind"] == "stems.export" and result["parent_id"] == job_id
    assert result["result"]["engine"] == "mixdown"

    mix = _stem(client, result["url"])
    vocals = _stem(client, done["stems"][0]["url"])
    inst = _stem(client, done["stems"][1]["url"])
    expected = 0.8 * (0.5 * vocals @ pan_matrix(-0.5, 2) + 1.0 * inst @ pan_matrix(0.25, 2))
    assert mix.shape == expected.shape
    np.testing.assert_allclose(mix, np.clip(expected, -1, 1), atol=2.5e-4)

    # The same mix as MP3, through the same URL scheme.
    mp3 = client.get(result["urls"]["mp3"])
    assert mp3.status_code == 200 and mp3.headers["content-type"].startswith("audio/mpeg")


def test_server_export_mute_solo_and_mp3(client: TestClient):
    job_id, token, done = _split(client)
    resp = client.post("/api/stems/server-export", json={
        "job_id": job_id, "job_token": token, "format": "mp3",
        "stems": {"vocals": {"solo": True}, "instrumental": {"mute": True}},
    })
    assert resp.status_code == 202, resp.text
    exp = resp.json()
    result = wait_for(client, exp["status_url"], exp["job_token"])
    assert result["status"] == "succeeded", result
    assert result["result"]["gains"] == {"vocals": 1.0, "instrumental": 0.0}
    assert result["url"].split("?")[0].endswith("/mix.mp3")
    assert client.get(result["url"]).status_code == 200
    wav = _stem(client, result["urls"]["wav"])
    vocals = _stem(client, done["stems"][0]["url"])
    np.testing.assert_allclose(wav, vocals, atol=2.5e-4)


def test_server_export_errors(client: TestClient):
    job_id, token, _ = _split(client)
    bad_token = client.post("/api/stems/server-export", json={"job_id": job_id, "job_token": "nope"})
    assert bad_token.status_code == 403 and "token" in bad_token.json()["detail"]
    unknown = client.post("/api/stems/server-export", json={
        "job_id": job_id, "job_token": token, "stems": {"drums": {"gain": 1}},
    })
    assert unknown.status_code == 422 and "drums" in unknown.json()["detail"]
    out_of_range = client.post("/api/stems/server-export", json={
        "job_id": job_id, "job_token": token, "master_gain": 99,
    })
    assert out_of_range.status_code == 422 and out_of_range.json()["detail"].startswith("Invalid request")
    missing = client.post("/api/stems/server-export", json={"job_id": "0" * 32, "job_token": token})
    assert missing.status_code == 404

    exp = client.post("/api/stems/server-export", json={"job_id": job_id, "job_token": token}).json()
    wait_for(client, exp["status_url"], exp["job_token"])
    no_file = client.get(f"/api/stems/export-file/{exp['job_id']}/vocals.wav", params={"token": exp["job_token"]})
    assert no_file.status_code == 404
    wrong = client.get(f"/api/stems/export-file/{exp['job_id']}/mix.wav", params={"token": token})
    assert wrong.status_code == 403


def test_server_export_disabled(tmp_path: Path):
    from burntbeats.api.app import create_app

    settings = make_settings(tmp_path, server_export_enabled=False)
    with TestClient(create_app(settings)) as client:
        resp = client.post("/api/stems/server-export", json={"job_id": "a" * 32, "job_token": "x"})
        assert resp.status_code == 403
        assert "disabled" in resp.json()["detail"]
        for url in (f"/api/stems/server-export/{'a' * 32}", f"/api/stems/export-file/{'a' * 32}/mix.wav"):
            resp = client.get(url)  # an unknown job: the feature check answers before the job lookup (404)
            assert resp.status_code == 403 and "disabled" in resp.json()["detail"], url
