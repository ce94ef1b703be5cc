"""Bad input gets a clear JSON 4xx and nothing is queued."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from audio_fixtures import make_tone


def _post(client, name, content, **form):
    data = {"stems": "2", "quality": "fast", **{k: str(v) for k, v in form.items()}}
    return client.post("/api/stems/split", files={"file": (name, content, "audio/mpeg")}, data=data)


def _assert_error(resp, status):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in resp.text
    return body["detail"]


def test_renamed_text_file_is_415(client):
    _assert_error(_post(client, "song.mp3", b"this is not audio at all\n" * 100), 415)


def test_renamed_png_is_415(client):
    _assert_error(_post(client, "song.wav", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20), 415)


def test_empty_file_is_400(client):
    _assert_error(_post(client, "song.wav", b""), 400)


def test_truncated_wav_is_422(client, tmp_path):
    path = tmp_path / "t.wav"
    make_tone(path, seconds=1.0)
    header_only = path.read_bytes()[:44]
    _assert_error(_post(client, "t.wav", header_only), 422)


def test_too_long_is_422(client, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(8000 * 125, dtype=np.int16), 8000)  # 125 s > MAX_DURATION_S=120
    detail = _assert_error(_post(client, "long.wav", path.read_bytes()), 422)
    assert "120" in detail


def test_over_size_limit_is_413(client):
    big = b"\0" * (9 * 1024 * 1024)  # MAX_UPLOAD_MB=8
    _assert_error(_post(client, "big.wav", big), 413)


def test_limits_endpoint_states_the_enforced_limits(tmp_path):
    """GET /api/limits (what the web app shows before an upload) answers the limits the uploads are held to."""
    from fastapi.testclient import TestClient

    from burntbeats.api.app import create_app
    from conftest import make_settings

    settings = make_settings(tmp_path, max_upload_mb=3, speech_max_upload_mb=2, max_duration_s=90,
                             midi_max_batch_items=5, job_retention_hours=6)
    with TestClient(create_app(settings)) as client:
        limits = client.get("/api/limits").json()
        assert limits == {"max_upload_mb": 3, "speech_max_upload_mb": 2, "max_duration_s": 90.0,
                          "midi_max_batch_items": 5, "job_retention_hours": 6.0}
        assert "3 MB" in _assert_error(_post(client, "big.wav", b"\0" * (4 * 1024 * 1024)), 413)
        speech = client.post("/api/speech/enhance", files={"file": ("v.wav", b"\0" * (3 * 1024 * 1024), "audio/wav")})
        assert "2 MB" in _assert_error(speech, 413)
        path = tmp_path / "long.wav"
        sf.write(path, np.zeros(8000 * 95, dtype=np.int16), 8000)  # 95 s > 90 s
        assert "90" in _assert_error(_post(client, "long.wav", path.read_bytes()), 422)


def test_over_size_limit_chunked_is_413(client):
    boundary = "xyzBOUNDARY"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
               "Content-Type: audio/wav\r\n\r\n").encode()
        for _ in range(10):
            yield b"\0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = client.post("/api/stems/split", content=body(),
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    _assert_error(resp, 413)


def test_invalid_parameters_are_422_naming_the_field(client, tmp_path):
    path = tmp_path / "a.wav"
    make_tone(path, seconds=0.5)
    detail = _assert_error(_post(client, "a.wav", path.read_bytes(), stems=3), 422)
    assert "stems" in detail
    detail = _assert_error(_post(client, "a.wav", path.read_bytes(), quality="ultra"), 422)
    assert "quality" in detail
    detail = _assert_error(client.post("/api/stems/split", data={"stems": "2"}), 422)
    assert "file" in detail


def test_unknown_job_stem_and_bad_token(client, tmp_path):
    _assert_error(client.get("/api/stems/status/doesnotexist", headers={"X-Job-Token": "x"}), 404)
    path = tmp_path / "a.wav"
    make_tone(path, seconds=0.5)
    body = _post(client, "a.wav", path.read_bytes()).json()
    job_id, token = body["job_id"], body["job_token"]
    _assert_error(client.get(f"/api/stems/status/{job_id}"), 403)
    _assert_error(client.get(f"/api/stems/status/{job_id}", headers={"X-Job-Token": token + "x"}), 403)
    from conftest import wait_for

    assert wait_for(client, f"/api/stems/status/{job_id}", token)["status"] == "succeeded"
    _assert_error(client.get(f"/api/stems/file/{job_id}/drums.wav", headers={"X-Job-Token": token}), 404)
    _assert_error(client.get(f"/api/stems/file/{job_id}/vocals.exe", headers={"X-Job-Token": token}), 404)
    _assert_error(client.get(f"/api/stems/file/{job_id}/..%2F..%2Fetc.wav", headers={"X-Job-Token": token}), 404)


def test_nothing_queued_for_rejected_uploads(client):
    _post(client, "song.mp3", b"not audio")
    _post(client, "song.wav", b"")
    assert client.get("/api/jobs").json()["jobs"] == []
