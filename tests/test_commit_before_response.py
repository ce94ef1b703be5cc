"""A write is committed before its answer leaves the server.

FastAPI ends a yield dependency after the response is sent unless it is function-scoped; a request
session that committed there let a client act on an answer (a session cookie, a new API key) before
the rows behind it existed: a sign-up followed at once by a request could read "Your sign-in has
expired". The probe below looks at the database, from its own connection, at the moment the last
byte of each answer is sent.
"""

from __future__ import annotations

from sqlalchemy import func, select

from accounts_helpers import PASSWORD, auth_app
from burntbeats.db import session_scope
from burntbeats.models import ApiKey, AuthSession, User


class CommitProbe:
    """ASGI wrapper: runs `check()` when an answer's last body chunk is sent and keeps what it returned."""

    def __init__(self, app, check):
        self.app, self.check, self.seen = app, check, []

    async def __call__(self, scope, receive, send):
        async def probing_send(message):
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.seen.append(self.check())
            await send(message)

        await self.app(scope, receive, send if scope["type"] != "http" else probing_send)


def _counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) for model in (User, AuthSession, ApiKey))


def test_sign_up_and_a_new_key_are_in_the_database_when_their_answers_are_sent(tmp_path):
    from fastapi.testclient import TestClient

    with auth_app(tmp_path) as (app, settings, _anonymous):
        url = settings.resolved_database_url
        probe = CommitProbe(app, lambda: _counts(url))
        client = TestClient(probe)
        users, sign_ins, keys = _counts(url)
        resp = client.post("/api/auth/sign-up", json={"email": "fast@example.com", "password": PASSWORD})
        assert resp.status_code == 201, resp.text
        assert probe.seen[-1] == (users + 1, sign_ins + 1, keys)  # the user and its sign-in, visible to anyone
        client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
        resp = client.post("/api/auth/keys", json={"name": "laptop"})
        assert resp.status_code == 201, resp.text
        assert probe.seen[-1] == (users + 1, sign_ins + 1, keys + 1)
        assert client.get("/api/auth/me").status_code == 200
