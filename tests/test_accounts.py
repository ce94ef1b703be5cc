"""Accounts (AUTH_REQUIRED=1): sign-up / sign-in / sign-out, the session cookie and CSRF, API keys, the CLI."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accounts_helpers import PASSWORD, auth_app, signed_up
from burntbeats.accounts import passwords
from burntbeats.cli import app as cli_app


def test_accounts_are_off_by_default(client):
    me = client.get("/api/auth/me").json()
    assert me == {"auth_required": False, "signup_enabled": False, "via": "local", "csrf_token": None,
                  "user": {**me["user"], "id": "local"}}
    resp = client.post("/api/auth/sign-up", json={"email": "a@example.com", "password": PASSWORD})
    assert resp.status_code == 404 and "AUTH_REQUIRED" in resp.json()["detail"]
    assert client.get("/api/jobs").status_code == 200  # no sign-in needed


def test_anonymous_calls_get_401_with_a_sentence(tmp_path):
    with auth_app(tmp_path) as (_app, _settings, anonymous):
        for method, path in [("GET", "/api/jobs"), ("GET", "/api/jobs/abc"), ("POST", "/api/stems/split"),
                             ("GET", "/api/stems/status/abc"), ("POST", "/api/midi/merge")]:
            resp = anonymous.request(method, path)
            assert resp.status_code == 401, (method, path, resp.text)
            assert "Sign in" in resp.json()["detail"] and resp.headers["www-authenticate"].startswith("Bearer")
        me = anonymous.get("/api/auth/me").json()
        assert me["auth_required"] is True and me["user"] is None and me["signup_enabled"] is True
        assert anonymous.get("/api/models").status_code == 200  # not a job route


def test_sign_up_sets_an_http_only_lax_cookie_and_csrf_guards_changes(tmp_path):
    with auth_app(tmp_path) as (app, _settings, _anonymous):
        client = TestClient(app)
        resp = client.post("/api/auth/sign-up", json={"email": "Ann@Example.com", "password": PASSWORD,
                                                      "display_name": "Ann"})
        assert resp.status_code == 201, resp.text
        assert resp.json()["user"]["email"] == "ann@example.com"
        cookies = resp.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("bb_session="))
        assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
        assert "Secure" not in session_cookie  # plain http here
        csrf = resp.json()["csrf_token"]
        assert any(c.startswith(f"bb_csrf={csrf}") for c in cookies)

        me = client.get("/api/auth/me").json()
        assert me["user"]["email"] == "ann@example.com" and me["via"] == "session" and me["csrf_token"] == csrf
        assert client.get("/api/jobs").status_code == 200
        # An unsafe request with the cookie but without the token is refused; with it, it works.
        refused = client.post("/api/auth/keys", json={"name": "k"})
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        wrong = client.post("/api/auth/keys", json={"name": "k"}, headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.status_code == 403
        assert client.post("/api/auth/keys", json={"name": "k"}, headers={"X-CSRF-Token": csrf}).status_code == 201

        again = client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD})
        assert again.status_code == 409


def test_secure_cookie_behind_https(tmp_path):
    with auth_app(tmp_path, base_url="https://testserver") as (app, _settings, _anonymous):
        client = TestClient(app, base_url="https://testserver")
        resp = client.post("/api/auth/sign-up", json={"email": "s@example.com", "password": PASSWORD})
        assert all("Secure" in c for c in resp.headers.get_list("set-cookie"))
        assert client.get("/api/jobs").status_code == 200


def test_sign_in_sign_out_and_no_enumeration(tmp_path):
    with auth_app(tmp_path) as (app, _settings, anonymous):
        signed_up(app, "bob@example.com")
        wrong = anonymous.post("/api/auth/sign-in", json={"email": "bob@example.com", "password": "wrong password"})
        unknown = anonymous.post("/api/auth/sign-in", json={"email": "nobody@example.com", "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"detail": "Wrong email or password."}

        client = TestClient(app)
        resp = client.post("/api/auth/sign-in", json={"email": "BOB@example.com", "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
        stolen = client.cookies.get("bb_session")
        assert client.post("/api/auth/sign-out").json() == {"signed_out": True}
        assert client.get("/api/auth/me").json()["user"] is None
        # The old cookie is dead on the server too, not just cleared in this browser.
        replay = TestClient(app, cookies={"bb_session": stolen})
        assert replay.get("/api/jobs").status_code == 401


def test_api_keys_shown_once_hashed_revocable_with_last_used(tmp_path):
    with auth_app(tmp_path) as (app, settings, anonymous):
        client = signed_up(app, "cat@example.com")
        created = client.post("/api/auth/keys", json={"name": "laptop"}).json()
        key = created["key"]
        assert key.startswith("bbk_") and created["last_used_at"] is None
        listed = client.get("/api/auth/keys").json()["keys"]
        assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
        db = (settings.data_dir / "burntbeats.db").read_bytes()
        assert key.split("_", 2)[2].encode() not in db  # only a hash is stored

        bearer = {"Authorization": f"Bearer {key}"}
        assert anonymous.get("/api/jobs", headers=bearer).status_code == 200
        me = anonymous.get("/api/auth/me", headers=bearer).json()
        assert me["via"] == "api_key" and me["user"]["email"] == "cat@example.com"
        assert client.get("/api/auth/keys").json()["keys"][0]["last_used_at"] is not None
        # No CSRF token is needed with a key (no cookie): a POST is judged on the key.
        assert anonymous.post("/api/auth/keys", json={"name": "second"}, headers=bearer).status_code == 201

        assert anonymous.get("/api/jobs", headers={"Authorization": key[:-2] + "xx"}).status_code == 401
        assert anonymous.get("/api/jobs", headers={"Authorization": f"Bearer {key[:-2]}xx"}).status_code == 401
        assert client.delete(f"/api/auth/keys/{created['id']}").json()["revoked_at"] is not None
        revoked = anonymous.get("/api/jobs", headers=bearer)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
        assert client.delete(f"/api/auth/keys/{created['id']}").status_code == 404


def test_signup_can_be_closed(tmp_path):
    with auth_app(tmp_path, signup_enabled=False) as (_app, _settings, anonymous):
        resp = anonymous.post("/api/auth/sign-up", json={"email": "d@example.com", "password": PASSWORD})
        assert resp.status_code == 403 and "SIGNUP_ENABLED" in resp.json()["detail"]
        short = anonymous.post("/api/auth/sign-in", json={"email": "d@example.com", "password": "x"})
        assert short.status_code == 401


def test_weak_password_and_bad_email_are_422(tmp_path):
    with auth_app(tmp_path) as (_app, _settings, anonymous):
        short = anonymous.post("/api/auth/sign-up", json={"email": "e@example.com", "password": "short"})
        assert short.status_code == 422 and f"{passwords.MIN_LENGTH} characters" in short.json()["detail"]
        bad = anonymous.post("/api/auth/sign-up", json={"email": "not-an-email", "password": PASSWORD})
        assert bad.status_code == 422 and "email" in bad.json()["detail"]


def test_users_cli_create_list_reset_disable(tmp_path, monkeypatch):
    from burntbeats.settings import get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli_app, ["users", "create", "ops@example.com", "--admin", "--password-stdin"],
                             input=PASSWORD + "\n")
        assert made.exit_code == 0, made.output
        dup = runner.invoke(cli_app, ["users", "create", "ops@example.com", "--password-stdin"], input=PASSWORD + "\n")
        assert dup.exit_code == 1 and "already exists" in dup.output
        listed = runner.invoke(cli_app, ["users", "list"])
        assert "ops@example.com" in listed.output and "admin" in listed.output
        key = runner.invoke(cli_app, ["users", "create-key", "ops@example.com"]).output.strip()
        assert key.startswith("bbk_")
        new_password = "a brand new password"
        reset = runner.invoke(cli_app, ["users", "reset-password", "ops@example.com", "--password-stdin"],
                              input=new_password + "\n")
        assert reset.exit_code == 0, reset.output

        with auth_app(tmp_path) as (_app, _settings, anonymous):
            old = anonymous.post("/api/auth/sign-in", json={"email": "ops@example.com", "password": PASSWORD})
            assert old.status_code == 401
            ok = anonymous.post("/api/auth/sign-in", json={"email": "ops@example.com", "password": new_password})
            assert ok.status_code == 200 and ok.json()["user"]["is_admin"] is True
            assert anonymous.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200

            assert runner.invoke(cli_app, ["users", "disable", "ops@example.com"]).exit_code == 0
            assert anonymous.get("/api/jobs").status_code == 401  # disabling ended the sign-in above
            disabled = anonymous.get("/api/jobs", headers={"Authorization": f"Bearer {key}"})
            assert disabled.status_code == 403 and "disabled" in disabled.json()["detail"]
            assert anonymous.post("/api/auth/sign-in", json={"email": "ops@example.com",
                                                            "password": new_password}).status_code == 401
            assert runner.invoke(cli_app, ["users", "enable", "ops@example.com"]).exit_code == 0
            assert anonymous.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        missing = runner.invoke(cli_app, ["users", "disable", "nobody@example.com"])
        assert missing.exit_code == 1 and "No account" in missing.output
    finally:
        get_settings.cache_clear()
