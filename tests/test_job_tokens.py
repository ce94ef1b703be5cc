"""JOB_TOKEN_SECRET: signed job tokens bound to job id + owner + expiry, short-lived file-link tokens; the admin API."""

from __future__ import annotations

import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi.testclient import TestClient

from accounts_helpers import auth_app, signed_up
from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from burntbeats.errors import Forbidden
from burntbeats.jobs.tokens import EXPIRED, FILE, INVALID, JOB, JobTokens
from conftest import make_settings, wait_for

SECRET = "job-token-secret-of-32-characters"
SIGNED = JobTokens(secret="s", signing_secret=SECRET, job_ttl_s=600, file_ttl_s=60)
JOB_A = SimpleNamespace(id="a" * 32, owner_id="u_1")


def _refused(token, job=JOB_A, purposes=(JOB,)) -> str:
    with pytest.raises(Forbidden) as err:
        SIGNED.check(job, token, purposes)
    return err.value.message


def test_signed_tokens_are_bound_to_job_owner_purpose_and_expiry():
    SIGNED.check(JOB_A, SIGNED.job(JOB_A))
    SIGNED.check(JOB_A, SIGNED.file(JOB_A), (JOB, FILE))
    assert _refused(SIGNED.file(JOB_A)) == INVALID  # a file link's token is not a job token
    assert _refused(SIGNED.job(SimpleNamespace(id="b" * 32, owner_id="u_1"))) == INVALID  # another job's
    assert _refused(SIGNED.job(SimpleNamespace(id="a" * 32, owner_id="u_2"))) == INVALID  # another owner's
    forged = jwt.encode({"jid": JOB_A.id, "own": "u_1", "pur": JOB, "exp": int(time.time()) + 60},
                        "guessed-secret-of-32-characters!", algorithm="HS256")
    assert _refused(forged) == INVALID
    unsigned = jwt.encode({"jid": JOB_A.id, "own": "u_1", "pur": JOB, "exp": int(time.time()) + 60}, None,
                          algorithm="none")
    assert _refused(unsigned) == INVALID
    expired = jwt.encode({"jid": JOB_A.id, "own": "u_1", "pur": JOB, "exp": int(time.time()) - 1},
                         SECRET, algorithm="HS256")
    assert _refused(expired) == EXPIRED
    for junk in (None, "", 5, "x" * 2000, "ü", "a.b.c"):
        assert _refused(junk) == INVALID
    # Without JOB_TOKEN_SECRET: today's HMAC tokens, which never expire.
    plain = JobTokens(secret="s")
    plain.check(JOB_A, plain.job(JOB_A))
    assert plain.file(JOB_A) == plain.job(JOB_A)


def test_a_short_job_token_secret_is_refused_without_echoing_it(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        make_settings(tmp_path, job_token_secret="short-secret")
    assert "job_token_secret" in str(err.value) and "short-secret" not in str(err.value)


def test_api_with_job_token_secret(tmp_path):
    song = tmp_path / "a.wav"
    make_tone(song, seconds=1.0)
    settings = make_settings(tmp_path, job_token_secret="0123456789abcdef" * 2, file_token_ttl_s=2)
    with TestClient(create_app(settings)) as client:
        resp = client.post("/api/stems/split", files={"file": ("a.wav", song.read_bytes())},
                           data={"stems": "2", "quality": "fast"})
        job = resp.json()
        assert job["job_token"].count(".") == 2  # a JWT
        status = wait_for(client, job["status_url"], job["job_token"])
        url = status["stems"][0]["url"]
        file_tok = parse_qs(urlsplit(url).query)["token"][0]
        assert file_tok != job["job_token"]
        # The file link works as it is (what <audio src> does: no header).
        assert client.get(url).status_code == 200
        # ...but is no job token: the status refuses it.
        assert client.get(job["status_url"], headers={"X-Job-Token": file_tok}).status_code == 403
        other = client.post("/api/stems/split", files={"file": ("b.wav", song.read_bytes())},
                            data={"stems": "2", "quality": "fast"}).json()
        wrong_job = client.get(job["status_url"], headers={"X-Job-Token": other["job_token"]})
        assert wrong_job.status_code == 403 and wrong_job.json()["detail"] == INVALID
        tampered = job["job_token"][:-3] + ("AAA" if not job["job_token"].endswith("AAA") else "BBB")
        assert client.get(job["status_url"], headers={"X-Job-Token": tampered}).status_code == 403
        time.sleep(3.1)  # FILE_TOKEN_TTL_S=2 (expiry in whole seconds)
        expired = client.get(url)
        assert expired.status_code == 403 and "expired" in expired.json()["detail"]
        # A fresh status gives fresh links.
        fresh = client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}).json()
        assert client.get(fresh["stems"][0]["url"]).status_code == 200


def test_admin_api_is_off_without_api_key(client):
    resp = client.get("/api/admin/users", headers={"X-API-Key": "anything"})
    assert resp.status_code == 404 and resp.json()["detail"] == "No such path: /api/admin/users."


def test_admin_api(tmp_path):
    song = tmp_path / "a.wav"
    make_tone(song, seconds=1.0)
    with auth_app(tmp_path, api_key="admin-key-123") as (app, _settings, anonymous):
        alice = signed_up(app, "alice@example.com")
        key = alice.post("/api/auth/keys", json={"name": "k"}).json()["key"]
        job = alice.post("/api/stems/split", files={"file": ("a.wav", song.read_bytes())},
                         data={"stems": "2", "quality": "fast"}).json()
        wait_for(alice, job["status_url"], job["job_token"])

        assert anonymous.get("/api/admin/users").status_code == 401
        assert anonymous.get("/api/admin/users", headers={"X-API-Key": "admin-key-12"}).status_code == 401
        assert anonymous.get("/api/admin/users", headers={"Authorization": key}).status_code == 401
        admin = TestClient(app, headers={"X-API-Key": "admin-key-123"})
        listed = admin.get("/api/admin/users").json()["users"]
        alice_row = next(u for u in listed if u["email"] == "alice@example.com")
        assert alice_row["disabled"] is False
        jobs = admin.get("/api/admin/jobs", params={"user_id": alice_row["id"]}).json()["jobs"]
        assert [j["job_id"] for j in jobs] == [job["job_id"]] and jobs[0]["status"] == "succeeded"
        usage = admin.get("/api/admin/usage").json()["users"]
        row = next(u for u in usage if u["user_id"] == alice_row["id"])
        assert row["jobs"] == 1 and row["by_kind"] == {"stems.split": 1} and row["audio_seconds"] == pytest.approx(1.0)
        assert row["processing_seconds"] > 0

        assert admin.post(f"/api/admin/users/{alice_row['id']}/disable").json()["disabled"] is True
        assert anonymous.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 403
        assert alice.get("/api/jobs").status_code == 401  # her sign-in ended
        assert admin.post(f"/api/admin/users/{alice_row['id']}/enable").json()["disabled"] is False
        assert anonymous.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert admin.post("/api/admin/users/nobody/disable").status_code == 404
