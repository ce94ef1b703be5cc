"""Safe by default: bad tokens are a 403, hosts are checked, cross-site writes refused, headers set, no token logged."""

from __future__ import annotations

import pytest

from audio_fixtures import make_tone
from burntbeats.jobs import tokens
from conftest import wait_for

INVALID_TOKEN = "Missing or invalid job token for this job."


def _split(client, path, headers=None):
    with open(path, "rb") as fh:
        return client.post("/api/stems/split", files={"file": (path.name, fh, "audio/wav")},
                           data={"stems": "2", "quality": "fast"}, headers=headers or {})


@pytest.fixture
def finished_split(client, tmp_path):
    song = tmp_path / "tone.wav"
    make_tone(song, seconds=1.0)
    resp = _split(client, song)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert wait_for(client, body["status_url"], body["job_token"])["status"] == "succeeded"
    return body


# --- job tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "é", "\u2603" * 32, "\udcff", 123, 1.5, ["a"], {"a": 1}, b"\xff"])
def test_verify_refuses_anything_but_the_token(token):
    assert tokens.verify("secret", "job", "abc", token) is False


def test_verify_accepts_the_token():
    assert tokens.verify("secret", "job", "abc", tokens.sign("secret", "job", "abc")) is True


def test_non_ascii_token_is_403_not_500(client, finished_split):
    job_id = finished_split["job_id"]
    for url, headers in (
        (f"/api/stems/status/{job_id}?token=%C3%A9t%C3%A9", {}),
        (f"/api/stems/status/{job_id}", {"X-Job-Token": "\u00e9t\u00e9".encode("latin-1")}),
        (f"/api/stems/file/{job_id}/vocals.wav?token=%E2%98%83", {}),
    ):
        resp = client.get(url, headers=headers)
        assert resp.status_code == 403, resp.text
        assert resp.json()["detail"] == INVALID_TOKEN


def test_non_string_source_token_in_json_is_403_not_500(client, finished_split):
    for token in (123, 1.5, True):
        resp = client.post("/api/midi/convert", json={"source_job": finished_split["job_id"], "stem": "vocals",
                                                         "source_token": token})
        assert resp.status_code in (403, 422), resp.text
        assert isinstance(resp.json()["detail"], str)
        resp = client.post("/api/midi/batch", json={"items": [{"source_job": finished_split["job_id"],
                                                               "stem": "vocals", "source_token": token}]})
        assert resp.status_code in (403, 422), resp.text
        assert isinstance(resp.json()["detail"], str)
