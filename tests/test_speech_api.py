"""Speech API and CLI: upload -> 202 -> status -> enhanced + A/B original; queue limit; bad input."""

from __future__ import annotations

import io

import av
import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from burntbeats.api.app import create_app
from burntbeats.cli import app as cli_app
from burntbeats.speech.synth import make_noise, mix_at_snr, si_sdr, synth_speech
from conftest import make_settings, wait_for


class IdleRunner:
    """Accepts jobs but never runs them, so they stay queued."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, job_id: str) -> None: ...
    def notify(self) -> None: ...


def _noisy_wav(seconds: float = 4.0, sr: int = 16000, seed: int = 21) -> tuple[bytes, np.ndarray, np.ndarray]:
    clean = synth_speech(seconds, sr, seed=seed)
    noisy = mix_at_snr(clean, make_noise("white", len(clean), sr, seed=seed), 5.0)
    buf = io.BytesIO()
    sf.write(buf, noisy, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue(), clean, noisy


def _submit(client: TestClient, payload: bytes, name: str = "talk.wav", **form):
    return client.post("/api/speech/enhance", files={"file": (name, payload)}, data=form)


def test_enhance_job_end_to_end(client, settings):
    payload, clean, noisy = _noisy_wav()
    resp = _submit(client, payload, engine="balanced", atten_limit_db="60")
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert set(job) >= {"job_id", "job_token", "status_url"}
    hdr = {"X-Job-Token": job["job_token"]}

    # the raw upload is there at once, byte for byte
    up = client.get(f"/api/speech/original/{job['job_id']}", headers=hdr)
    assert up.status_code == 200 and up.content == payload

    status = wait_for(client, job["status_url"], job["job_token"])
    assert status["status"] == "succeeded", status
    assert status["engine"] == "deepfilternet3"
    assert status["device"] == status["result"]["device"] == "cpu"  # no torch: DEVICE does not apply
    assert status["result"]["sample_rate"] == 16000 and status["result"]["samples"] == len(clean)
    assert set(status["files"]) == {"enhanced", "original"}

    enhanced_resp = client.get(status["files"]["enhanced"]["wav"])
    assert enhanced_resp.status_code == 200
    assert "talk-enhanced.wav" in enhanced_resp.headers.get("content-disposition", "")
    enhanced, sr = sf.read(io.BytesIO(enhanced_resp.content), dtype="float32")
    assert sr == 16000 and enhanced.shape == clean.shape
    assert si_sdr(clean, enhanced) - si_sdr(clean, noisy) > 5.0  # aligned: measured at lag 0

    # A/B: the original decoded at the output rate, same length, same samples as the upload
    orig_resp = client.get(f"/api/speech/file/{job['job_id']}/original.wav", headers=hdr)
    assert orig_resp.status_code == 200
    original, sr2 = sf.read(io.BytesIO(orig_resp.content), dtype="float32")
    assert sr2 == 16000 and original.shape == enhanced.shape
    assert np.max(np.abs(original - noisy)) < 1e-3

    for ext, ctype in (("flac", "audio/flac"), ("mp3", "audio/mpeg")):
        r = client.get(f"/api/speech/file/{job['job_id']}/enhanced.{ext}", headers=hdr)
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
    with av.open(io.BytesIO(r.content)) as container:  # the mp3 decodes (the core encodes it at 32/44.1/48 kHz)
        assert container.streams.audio[0].sample_rate in (32000, 44100, 48000)

    # errors: bad token, unknown file
    assert client.get(f"/api/speech/file/{job['job_id']}/enhanced.wav", headers={"X-Job-Token": "x"}).status_code == 403
    assert client.get(f"/api/speech/file/{job['job_id']}/vocals.wav", headers=hdr).status_code == 404
    assert client.get(f"/api/speech/file/{job['job_id']}/enhanced.ogg", headers=hdr).status_code == 404
    assert client.get("/api/speech/status/0123456789abcdef", headers=hdr).status_code == 404


def test_queue_full_gives_503_with_retry_after(tmp_path):
    settings = make_settings(tmp_path, speech_max_queue_depth=2)
    payload, _, _ = _noisy_wav(1.0)
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        first = _submit(client, payload)
        second = _submit(client, payload, engine="fast")
        assert first.status_code == second.status_code == 202
        full = _submit(client, payload)
        assert full.status_code == 503, full.text
        assert int(full.headers["retry-after"]) > 0
        assert "queue is full" in full.json()["detail"]
        # nothing of the refused upload was kept; the queued ones are intact and not finished yet
        assert len(list(settings.jobs_dir.iterdir())) == 2
        job = first.json()
        st = client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}).json()
        assert st["status"] == "queued" and st["files"] == {}
        r = client.get(f"/api/speech/file/{job['job_id']}/enhanced.wav", headers={"X-Job-Token": job["job_token"]})
        assert r.status_code == 409


def test_bad_input_is_refused_and_nothing_is_kept(tmp_path):
    settings = make_settings(tmp_path, speech_max_upload_mb=1)
    payload, _, _ = _noisy_wav(1.0)
    with TestClient(create_app(settings, runner=IdleRunner())) as client:
        r = _submit(client, b"this is not audio at all", name="talk.mp3")
        assert r.status_code == 415 and r.json()["detail"]
        r = _submit(client, b"", name="empty.wav")
        assert r.status_code == 400
        for form in ({"engine": "magic"}, {"atten_limit_db": "-3"}, {"sample_rate": "44100"},
                     {"channels": "surround"}, {"loudness_lufs": "loud"}, {"highpass_hz": "1000"}):
            r = _submit(client, payload, **form)
            assert r.status_code == 422, (form, r.text)
            assert r.json()["detail"].startswith("Invalid request.")
        big = np.zeros(int(16000 * 40), dtype=np.float32)  # 40 s of 16-bit mono at 16 kHz > 1 MB
        buf = io.BytesIO()
        sf.write(buf, big, 16000, format="WAV", subtype="PCM_16")
        r = _submit(client, buf.getvalue())
        assert r.status_code == 413
        jobs_dir = settings.jobs_dir
        assert not jobs_dir.exists() or not any(jobs_dir.iterdir())


def test_cli_enhance(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    payload, clean, noisy = _noisy_wav(3.0, sr=24000, seed=4)
    src = tmp_path / "talk.wav"
    src.write_bytes(payload)
    out = tmp_path / "out" / "talk-clean.wav"
    result = CliRunner().invoke(cli_app, ["enhance", str(src), "-o", str(out), "--engine", "rnnoise",
                                          "--atten-limit", "30", "--ab"])
    assert result.exit_code == 0, result.output
    enhanced, sr = sf.read(out)
    assert sr == 24000 and enhanced.shape == clean.shape
    assert si_sdr(clean, enhanced) > si_sdr(clean, noisy) + 3.0
    original, _ = sf.read(tmp_path / "out" / "talk-clean-original.wav")
    assert original.shape == enhanced.shape

    bad = tmp_path / "notes.m4a"
    bad.write_text("hello")
    result = CliRunner().invoke(cli_app, ["enhance", str(bad), "-o", str(tmp_path / "x.wav")])
    assert result.exit_code == 1 and "error" in result.output.lower()
    result = CliRunner().invoke(cli_app, ["enhance", str(src), "--engine", "magic"])
    assert result.exit_code != 0
