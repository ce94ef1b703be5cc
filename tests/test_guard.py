"""Hardening: rate limits (memory and the machine's Redis), the malware scan against a real clamd, CORS."""

from __future__ import annotations

import logging
import random
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from accounts_helpers import PASSWORD, auth_app
from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from burntbeats.models import Job
from conftest import make_settings

REDIS_URL = "redis://127.0.0.1:6379/0"
# The EICAR test file: every scanner knows it; it harms nothing.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_HDB = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _client(app, ip: str | None = None, **kwargs) -> TestClient:
    return TestClient(app, client=(ip or _ip(), 50000), **kwargs)


def _sign_in(client: TestClient, email: str, password: str):
    return client.post("/api/auth/sign-in", json={"email": email, "password": password})


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_failed_sign_ins_slow_down_without_telling_whether_the_account_exists(tmp_path, store):
    extra = {"redis_url": REDIS_URL} if store == "redis" else {}
    with auth_app(tmp_path, rate_limit_sign_in_failures="3/minute", **extra) as (app, _settings, _anon):
        known, unknown = f"k{uuid.uuid4().hex[:8]}@example.com", f"u{uuid.uuid4().hex[:8]}@example.com"
        assert _client(app).post("/api/auth/sign-up", json={"email": known, "password": PASSWORD}).status_code == 201
        answers = {}
        for email in (known, unknown):
            client = _client(app)
            codes = [_sign_in(client, email, "wrong password!").status_code for _ in range(3)]
            refused = _sign_in(client, email, PASSWORD)  # even the right password waits now
            answers[email] = (codes, refused.status_code, refused.json()["detail"].split(" Try again")[0])
            assert 0 < int(refused.headers["retry-after"]) <= 60
            assert "Try again in" in refused.json()["detail"]
        assert answers[known] == answers[unknown] == ([401, 401, 401], 429, "Too many failed sign-ins for this email.")


def test_sign_in_and_sign_up_are_limited_per_address(tmp_path):
    with auth_app(tmp_path, rate_limit_sign_in="4/minute", rate_limit_sign_up="2/hour") as (app, _settings, _anon):
        client = _client(app)
        for i in range(2):
            assert client.post("/api/auth/sign-up", json={"email": f"s{i}@example.com",
                                                          "password": PASSWORD}).status_code == 201
        third = client.post("/api/auth/sign-up", json={"email": "s3@example.com", "password": PASSWORD})
        assert third.status_code == 429 and "sign-ups from this address" in third.json()["detail"]
        assert _client(app).post("/api/auth/sign-up", json={"email": "s3@example.com",
                                                            "password": PASSWORD}).status_code == 201
        codes = [_sign_in(client, f"x{i}@example.com", "nope nope nope").status_code for i in range(5)]
        assert codes == [401, 401, 401, 401, 429]


def test_submissions_are_limited_per_user_and_per_address(tmp_path):
    song = tmp_path / "a.wav"
    make_tone(song, seconds=0.5)
    audio = song.read_bytes()
    with auth_app(tmp_path, rate_limit_submit="2/minute", rate_limit_submit_ip="3/minute") as (app, settings, _):
        ip = _ip()
        users = []
        for name in ("p", "q"):
            client = _client(app, ip)
            resp = client.post("/api/auth/sign-up", json={"email": f"{name}@example.com", "password": PASSWORD})
            client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
            users.append(client)

        def split(client):
            return client.post("/api/stems/split", files={"file": ("a.wav", audio)}, data={"quality": "fast"})

        assert [split(users[0]).status_code for _ in range(2)] == [202, 202]
        third = split(users[0])
        assert third.status_code == 429 and "jobs submitted by this account" in third.json()["detail"]
        assert int(third.headers["retry-after"]) >= 1
        assert split(users[1]).status_code == 202  # another account, the same address: its 3rd job there
        from_ip = split(users[1])
        assert from_ip.status_code == 429 and "from this address" in from_ip.json()["detail"]
        engine = create_engine(settings.resolved_database_url)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Job)).scalar() == 3  # no row for a refusal
        engine.dispose()


def test_limits_are_off_without_auth_and_a_down_redis_does_not_stop_the_api(tmp_path, caplog):
    song = tmp_path / "a.wav"
    make_tone(song, seconds=0.5)
    with TestClient(create_app(make_settings(tmp_path, rate_limit_submit="1/minute"))) as client:
        for _ in range(3):  # the single local user has no submission limit
            assert client.post("/api/stems/split", files={"file": ("a.wav", song.read_bytes())},
                               data={"quality": "fast"}).status_code == 202
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="burntbeats.guard.ratelimit")
    with auth_app(tmp_path / "b", redis_url=f"redis://127.0.0.1:{closed_port}/0") as (app, _settings, _anon):
        resp = _client(app).post("/api/auth/sign-up", json={"email": "r@example.com", "password": PASSWORD})
        assert resp.status_code == 201
    assert "not applied" in caplog.text


def test_redis_limits_are_shared_by_every_api_process(tmp_path):
    email = f"shared{uuid.uuid4().hex[:8]}@example.com"
    with auth_app(tmp_path / "one", redis_url=REDIS_URL, rate_limit_sign_in_failures="2/minute") as (one, _s, _a):
        with auth_app(tmp_path / "two", redis_url=REDIS_URL, rate_limit_sign_in_failures="2/minute") as (two, _t, _b):
            assert _sign_in(_client(one), email, "wrong password!").status_code == 401
            assert _sign_in(_client(two), email, "wrong password!").status_code == 401
            assert _sign_in(_client(one), email, "wrong password!").status_code == 429


@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    """A real clamd (Debian's clamav-daemon) on a Unix socket and on loopback TCP, with one signature: EICAR."""
    tmp = tmp_path_factory.mktemp("clamd")
    (tmp / "db").mkdir()
    (tmp / "db" / "eicar.hdb").write_text(EICAR_HDB)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sock = tmp / "clamd.sock"
    (tmp / "clamd.conf").write_text(f"LocalSocket {sock}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n"
                                    f"DatabaseDirectory {tmp / 'db'}\nForeground yes\nLogFile {tmp / 'clamd.log'}\n")
    proc = subprocess.Popen(["/usr/sbin/clamd", "-c", str(tmp / "clamd.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.connect(str(sock))
                conn.sendall(b"zPING\0")
                if conn.recv(16).startswith(b"PONG"):
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("clamd did not start: " + (tmp / "clamd.log").read_text()[-2000:])
    yield {"socket": str(sock), "port": port}
    proc.terminate()
    proc.wait(timeout=30)


def _upload(client: TestClient, data: bytes, name: str = "a.wav"):
    return client.post("/api/stems/split", files={"file": (name, data)}, data={"quality": "fast"})


@pytest.mark.parametrize("transport", ["socket", "tcp"])
def test_eicar_upload_is_refused_by_the_real_clamd(tmp_path, clamd, transport):
    where = {"clamd_socket": clamd["socket"]} if transport == "socket" else {"clamd_host": "127.0.0.1",
                                                                            "clamd_port": clamd["port"]}
    song = tmp_path / "a.wav"
    make_tone(song, seconds=0.5)
    with TestClient(create_app(make_settings(tmp_path, **where))) as client:
        infected = _upload(client, EICAR, "song.mp3")
        assert infected.status_code == 422, infected.text
        # clamd's own name for the signature (it marks signatures not from its official databases).
        assert infected.json()["detail"] == ("The upload was refused: the malware scanner found "
                                             "Eicar-Test-Signature.UNOFFICIAL.")
        assert client.get("/api/jobs").json()["jobs"] == []
        assert list(Path(make_settings(tmp_path).data_dir, "tmp").glob("upload.*")) == []
        assert _upload(client, song.read_bytes()).status_code == 202  # a clean file passes
        # Speech and MIDI uploads go through the same scan.
        speech = client.post("/api/speech/enhance", files={"file": ("talk.wav", EICAR)}, data={"engine": "fast"})
        assert speech.status_code == 422 and "Eicar" in speech.json()["detail"]
        midi = client.post("/api/midi/convert", files={"file": ("x.wav", EICAR)})
        assert midi.status_code == 422 and "Eicar" in midi.json()["detail"]


def test_clamd_down_fails_closed_or_open(tmp_path):
    song = tmp_path / "a.wav"
    make_tone(song, seconds=0.5)
    missing = str(tmp_path / "no-clamd.sock")
    with TestClient(create_app(make_settings(tmp_path, clamd_socket=missing))) as client:
        down = _upload(client, song.read_bytes())
        assert down.status_code == 503 and "scanner is unavailable" in down.json()["detail"]
        assert down.headers["retry-after"] == "30"
    with TestClient(create_app(make_settings(tmp_path / "open", clamd_socket=missing, clamd_fail_open=True))) as c:
        assert _upload(c, song.read_bytes()).status_code == 202


def test_cors_only_for_cors_origins(tmp_path, client):
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-csrf-token"}
    assert "access-control-allow-origin" not in client.options("/api/jobs", headers=preflight).headers
    app = create_app(make_settings(tmp_path, cors_origins="https://app.example.com"))
    with TestClient(app) as cors:
        ok = cors.options("/api/jobs", headers=preflight)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        assert ok.headers["access-control-allow-credentials"] == "true"
        other = cors.options("/api/jobs", headers={**preflight, "Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        read = cors.get("/api/jobs", headers={"Origin": "https://app.example.com"})
        assert read.headers["access-control-allow-origin"] == "https://app.example.com"
        # A write from that origin passes the cross-site check; one from elsewhere is still refused.
        write = cors.post("/api/jobs/x/cancel", headers={"Origin": "https://app.example.com",
                                                         "Sec-Fetch-Site": "cross-site"})
        assert write.status_code == 404
        evil = cors.post("/api/jobs/x/cancel", headers={"Origin": "https://evil.example.com",
                                                        "Sec-Fetch-Site": "cross-site"})
        assert evil.status_code == 403
