"""Helpers for the accounts tests: an app with AUTH_REQUIRED, signing up users as separate clients."""

from __future__ import annotations

from contextlib import contextmanager

from fastapi.testclient import TestClient

from burntbeats.api.app import create_app
from conftest import make_settings

PASSWORD = "correct horse battery"


@contextmanager
def auth_app(tmp_path, base_url: str = "http://testserver", **overrides):
    """(app, settings) with AUTH_REQUIRED=1; the app runs (lifespan) while the block does."""
    settings = make_settings(tmp_path, auth_required=True, **overrides)
    app = create_app(settings)
    with TestClient(app, base_url=base_url) as anonymous:
        yield app, settings, anonymous


def signed_up(app, email: str, password: str = PASSWORD, base_url: str = "http://testserver") -> TestClient:
    """A new client (own cookie jar) signed up as `email`, sending its CSRF token on every request."""
    client = TestClient(app, base_url=base_url)
    resp = client.post("/api/auth/sign-up", json={"email": email, "password": password})
    assert resp.status_code == 201, resp.text
    client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
    return client
