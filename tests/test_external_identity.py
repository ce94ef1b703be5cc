"""External identity: bearer JWTs checked against a JWKS served by the test on loopback, and Clerk webhooks
signed with a test secret (svix). The test makes its own RSA keys; nothing leaves the machine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from svix.webhooks import Webhook

from accounts_helpers import auth_app
from audio_fixtures import make_tone
from conftest import wait_for

ISSUER = "https://issuer.example.test"
AUDIENCE = "burntbeats"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes length").decode()


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(private, kid: str) -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


class Jwks:
    """A JWKS endpoint on 127.0.0.1 whose keys the test can rotate; counts how often it is fetched."""

    def __init__(self, keys: list[dict]) -> None:
        self.keys, self.fetches = keys, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def keys():
    return {"k1": _key(), "k2": _key(), "rogue": _key()}


@pytest.fixture
def idp(keys):
    server = Jwks([_jwk(keys["k1"], "k1")])
    yield server
    server.close()


def _token(private, kid="k1", **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user_abc", "exp": now + 300, "iat": now, "nbf": now - 5,
               "email": "jwt@example.com", **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256_with_public_key(private) -> str:
    """The classic key-confusion forgery: HS256 'signed' with the RSA public key (PEM) as the HMAC secret."""
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "user_abc", "exp": int(time.time()) + 300}).encode())
    sig = _b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def _alg_none() -> str:
    head = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    body = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "user_abc", "exp": int(time.time()) + 300}).encode())
    return f"{head}.{body}."


def _app(tmp_path, idp, **extra):
    return auth_app(tmp_path, oidc_issuer=ISSUER, oidc_jwks_url=idp.url, oidc_audience=AUDIENCE,
                    **{"oidc_leeway_s": 5, **extra})


def _me(client: TestClient, token: str):
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_a_good_token_is_accepted_and_its_sub_becomes_a_user(tmp_path, idp, keys):
    with _app(tmp_path, idp) as (_app_, _settings, client):
        first = _me(client, _token(keys["k1"]))
        assert first.status_code == 200, first.text
        user = first.json()["user"]
        assert first.json()["via"] == "jwt" and user["email"] == "jwt@example.com"
        again = _me(client, _token(keys["k1"])).json()["user"]
        assert again["id"] == user["id"]  # the same sub is the same user
        other = _me(client, _token(keys["k1"], sub="user_other", email=None)).json()["user"]
        assert other["id"] != user["id"]
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {_token(keys['k1'])}"}).status_code == 200
        assert idp.fetches == 1  # the key set is cached


@pytest.mark.parametrize("case", ["wrong_aud", "wrong_iss", "expired", "not_yet", "alg_none", "hs256_public_key",
                                  "unknown_signer", "no_exp", "garbage"])
def test_bad_tokens_are_refused(tmp_path, idp, keys, case):
    now = int(time.time())
    token = {
        "wrong_aud": lambda: _token(keys["k1"], aud="someone-else"),
        "wrong_iss": lambda: _token(keys["k1"], iss="https://evil.example.test"),
        "expired": lambda: _token(keys["k1"], exp=now - 60, iat=now - 600, nbf=now - 600),  # past the 5 s leeway
        "not_yet": lambda: _token(keys["k1"], nbf=now + 120),
        "alg_none": _alg_none,
        "hs256_public_key": lambda: _hs256_with_public_key(keys["k1"]),
        "unknown_signer": lambda: _token(keys["rogue"], kid="k1"),  # a key the issuer does not publish
        "no_exp": lambda: _token(keys["k1"], exp=None),
        "garbage": lambda: "not-a-jwt",
    }[case]()
    with _app(tmp_path, idp) as (_app_, _settings, client):
        resp = _me(client, token)
        assert resp.status_code == 401, (case, resp.text)
        assert resp.json()["detail"], case
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_clock_skew_within_leeway_is_accepted(tmp_path, idp, keys):
    with _app(tmp_path, idp, oidc_leeway_s=30) as (_app_, _settings, client):
        late = _token(keys["k1"], exp=int(time.time()) - 10)  # 10 s late, leeway 30 s
        assert _me(client, late).status_code == 200


def test_rotated_keys_are_fetched_again_after_the_cooldown(tmp_path, idp, keys):
    with _app(tmp_path, idp, oidc_jwks_cooldown_s=1.0) as (_app_, _settings, client):
        assert _me(client, _token(keys["k1"])).status_code == 200
        idp.keys = [_jwk(keys["k2"], "k2")]  # the issuer rotates: k1 retired, k2 new
        assert _me(client, _token(keys["k2"], kid="k2")).status_code == 401  # within the cooldown: no fetch
        assert idp.fetches == 1
        time.sleep(1.1)
        assert _me(client, _token(keys["k2"], kid="k2")).status_code == 200  # unknown kid: fetched again
        assert idp.fetches == 2
        assert _me(client, _token(keys["k1"])).status_code == 401  # the retired key no longer works


def _signed(payload: dict, secret: str = WEBHOOK_SECRET, when: datetime | None = None) -> dict:
    body = json.dumps(payload)
    msg_id = f"msg_{time.monotonic_ns()}"
    stamp = when or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, stamp, body)
    return {"content": body, "headers": {"svix-id": msg_id, "svix-timestamp": str(int(stamp.timestamp())),
                                         "svix-signature": signature, "content-type": "application/json"}}


def test_clerk_webhooks_create_and_delete_users_with_their_jobs(tmp_path, idp, keys):
    song = tmp_path / "a.wav"
    make_tone(song, seconds=1.0)
    with _app(tmp_path, idp, clerk_webhook_secret=WEBHOOK_SECRET) as (_app_, settings, client):
        created = client.post("/api/auth/clerk/webhook", **_signed({"type": "user.created", "data": {
            "id": "user_abc", "first_name": "Jo", "primary_email_address_id": "e1",
            "email_addresses": [{"id": "e1", "email_address": "jo@example.com"}]}}))
        assert created.status_code == 200, created.text
        user_id = created.json()["user_id"]
        bearer = {"Authorization": f"Bearer {_token(keys['k1'])}"}
        me = client.get("/api/auth/me", headers=bearer).json()["user"]
        assert me["id"] == user_id and me["email"] == "jo@example.com"
        job = client.post("/api/stems/split", headers=bearer, files={"file": ("a.wav", song.read_bytes())},
                          data={"stems": "2", "quality": "fast"}).json()
        wait_for(TestClient(client.app, headers=bearer), job["status_url"], job["job_token"])
        job_dir = settings.jobs_dir / job["job_id"]
        assert job_dir.exists()

        forged = _signed({"type": "user.deleted", "data": {"id": "user_abc"}}, secret="whsec_" + base64.b64encode(
            b"another secret of 32 bytes long!").decode())
        assert client.post("/api/auth/clerk/webhook", **forged).status_code == 422
        stale = _signed({"type": "user.deleted", "data": {"id": "user_abc"}},
                        when=datetime.fromtimestamp(time.time() - 3600, UTC))
        assert client.post("/api/auth/clerk/webhook", **stale).status_code == 422  # a replay from an hour ago
        assert job_dir.exists()

        deleted = client.post("/api/auth/clerk/webhook", **_signed({"type": "user.deleted",
                                                                     "data": {"id": "user_abc", "deleted": True}}))
        assert deleted.json() == {"received": True, "event": "user.deleted", "user_id": user_id, "deleted_jobs": 1}
        assert not job_dir.exists()
        ignored = client.post("/api/auth/clerk/webhook", **_signed({"type": "session.created", "data": {}}))
        assert ignored.status_code == 200 and ignored.json()["user_id"] is None


def test_webhooks_are_off_without_a_secret(client):
    resp = client.post("/api/auth/clerk/webhook", content=b"{}")
    assert resp.status_code == 404
