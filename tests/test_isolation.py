"""User A cannot reach user B's jobs by any route (AUTH_REQUIRED=1), on SQLite and on PostgreSQL.

A makes one finished job of every kind (a stems split, its server export, a speech enhancement, a MIDI
conversion of a stem, a batch, a MIDI export). B then calls every /api route of the app's router that names a
job (path or body) with A's ids, with A's tokens and with B's own: every answer is 404, as for a job that does
not exist. A new route must be classified here (the test fails until it is), so none is missed.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from accounts_helpers import signed_up
from audio_fixtures import make_song
from burntbeats.api.app import create_app
from conftest import FINAL_STATES, make_settings
from test_postgres import fresh_schema

# Routes that name no existing job: they list or create from uploads, or are about accounts.
NO_JOB = {"GET /api/jobs", "GET /api/models", "GET /api/stems/modes", "GET /api/limits", "POST /api/stems/split",
          "POST /api/speech/enhance", "GET /api/plans", "GET /api/billing/quote",
          "GET /api/billing/balance", "GET /api/billing/ledger", "POST /api/billing/checkout",
          "POST /api/billing/portal", "POST /api/billing/plan", "POST /api/billing/webhook",
          "GET /api/auth/me", "POST /api/auth/sign-up", "POST /api/auth/sign-in", "POST /api/auth/sign-out",
          "GET /api/auth/keys", "POST /api/auth/keys", "DELETE /api/auth/keys/{key_id}", "POST /api/auth/clerk/webhook"}
# Routes that name jobs in their body: how to point each at A's jobs.
BODY_ROUTES = {
    "POST /api/midi/convert": lambda j: {"json": {"source_job": j["stems"][0], "stem": "vocals",
                                                  "source_token": j["stems"][1]}},
    "POST /api/midi/batch": lambda j: {"json": {"items": [{"source_job": j["stems"][0], "stem": "vocals",
                                                           "source_token": j["stems"][1]}]}},
    "POST /api/midi/merge": lambda j: {"json": {"sources": [{"job_id": j["midi"][0], "job_token": j["midi"][1]}]}},
    "POST /api/midi/export": lambda j: {"json": {"source_jobs": [{"job_id": j["midi"][0],
                                                                  "job_token": j["midi"][1]}]}},
    "POST /api/stems/server-export": lambda j: {"json": {"job_id": j["stems"][0], "job_token": j["stems"][1],
                                                         "format": "wav"}},
}
# Every other value a job route's path may hold besides the job's id.
OTHER_PATH_VALUES = {"filename": ["vocals.wav", "output.mid", "metadata.json", "stems.zip", "mix.wav"],
                     "version": ["1"], "stem": ["vocals"]}
ID_PARAMS = ("job_id", "export_id", "batch_id")
BODIES = {"PUT": {"notes": [], "base_version": 1}, "PATCH": {"name": "taken over"}}


def _wait(client: TestClient, url: str, token: str, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url, headers={"X-Job-Token": token}).json()
        if body.get("status") in FINAL_STATES:
            assert body["status"] == "succeeded", body
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish")


def _make_jobs(a: TestClient, audio: bytes) -> dict[str, tuple[str, str]]:
    split = a.post("/api/stems/split", files={"file": ("song.wav", audio)}, data={"stems": "2", "quality": "fast"})
    assert split.status_code == 202, split.text
    speech = a.post("/api/speech/enhance", files={"file": ("talk.wav", audio)}, data={"engine": "fast"}).json()
    stems = (split.json()["job_id"], split.json()["job_token"])
    _wait(a, split.json()["status_url"], stems[1])
    export = a.post("/api/stems/server-export", json={"job_id": stems[0], "job_token": stems[1], "format": "wav"})
    midi = a.post("/api/midi/convert", json={"source_job": stems[0], "stem": "vocals", "source_token": stems[1]})
    batch = a.post("/api/midi/batch", json={"items": [{"source_job": stems[0], "stem": "instrumental",
                                                        "source_token": stems[1]}]}).json()
    jobs = {"stems": stems, "export": (export.json()["job_id"], export.json()["job_token"]),
            "midi": (midi.json()["job_id"], midi.json()["job_token"]),
            "speech": (speech["job_id"], speech["job_token"]), "batch": (batch["batch_id"], batch["batch_token"])}
    _wait(a, export.json()["status_url"], jobs["export"][1])
    _wait(a, midi.json()["status_url"], jobs["midi"][1])
    _wait(a, speech["status_url"], jobs["speech"][1])
    _wait(a, batch["jobs"][0]["status_url"], batch["jobs"][0]["job_token"])
    zipped = a.post("/api/midi/export", json={"source_jobs": [{"job_id": jobs["midi"][0],
                                                               "job_token": jobs["midi"][1]}]}).json()
    jobs["zip"] = (zipped["export_id"], zipped["export_token"])
    _wait(a, zipped["status_url"], jobs["zip"][1])
    return jobs


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    """(app, A's client, B's client, A's jobs, B's own stems job)."""
    tmp = tmp_path_factory.mktemp(f"isolation-{request.param}")
    song = tmp / "song.wav"
    make_song(song, seconds=1.5)
    audio = song.read_bytes()

    def run(database_url: str | None):
        app = create_app(make_settings(tmp, auth_required=True, database_url=database_url))
        with TestClient(app):
            a = signed_up(app, "a@example.com")  # A signs in with the cookie (and CSRF token)
            b_session = signed_up(app, "b@example.com")
            key = b_session.post("/api/auth/keys", json={"name": "b"}).json()["key"]
            b = TestClient(app, headers={"Authorization": f"Bearer {key}"})  # B uses an API key
            own = b.post("/api/stems/split", files={"file": ("b.wav", audio)}, data={"stems": "2", "quality": "fast"})
            yield app, a, b, _make_jobs(a, audio), (own.json()["job_id"], own.json()["job_token"])

    if request.param == "postgres":
        with fresh_schema("bb_isolation") as url:
            yield from run(url)
    else:
        yield from run(None)


def _job_routes(app) -> list[tuple[str, str, str]]:
    """(key, method, path) of every /api operation: the OpenAPI document FastAPI builds from the app's router
    (every /api route is in it: the only route hidden from it is the web UI's catch-all, which never claims
    /api/ paths)."""
    app.openapi_schema = None  # built afresh from the router
    routes = []
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            routes += [(f"{m.upper()} {path}", m.upper(), path) for m in item if m in ("get", "post", "put", "delete",
                                                                                          "patch")]
    return routes


def _fill(path: str, job_id: str) -> list[str]:
    paths = [path]
    for name in ID_PARAMS:
        paths = [p.replace("{" + name + "}", job_id) for p in paths]
    for name, values in OTHER_PATH_VALUES.items():
        if "{" + name + "}" in path:
            paths = [p.replace("{" + name + "}", v) for p in paths for v in values]
    return paths


def test_every_route_is_classified(world):
    app = world[0]
    routes = _job_routes(app)
    assert len(routes) > 30
    for key, _method, path in routes:
        named = any("{" + n + "}" in path for n in ID_PARAMS)
        admin = path.startswith("/api/admin/")  # the operator's API (API_KEY; off here: 404)
        assert named or admin or key in NO_JOB or key in BODY_ROUTES, f"classify {key} in test_isolation.py"


def test_b_gets_404_from_every_route_naming_as_job(world):
    app, a, b, jobs, own = world
    tried = 0
    for key, method, template in _job_routes(app):
        if not any("{" + n + "}" in template for n in ID_PARAMS) or template.startswith("/api/admin/"):
            continue
        for job_id, token in jobs.values():
            for path in _fill(template, job_id):
                for guess in (token, own[1], None, "x" * 32):
                    headers = {"X-Job-Token": guess} if guess else {}
                    resp = b.request(method, path, headers=headers, json=BODIES.get(method))
                    assert resp.status_code == 404, (key, path, resp.status_code, resp.text[:200])
                    assert "No such" in resp.json()["detail"]
                    tried += 1
    assert tried > 500
    # The same calls work for A (the test is not vacuous): every status route answers A's own job.
    stems_id, stems_token = jobs["stems"]
    assert a.get(f"/api/stems/status/{stems_id}", headers={"X-Job-Token": stems_token}).status_code == 200
    assert a.get(f"/api/jobs/{stems_id}", headers={"X-Job-Token": stems_token}).status_code == 200
    midi_id, midi_token = jobs["midi"]
    assert a.get(f"/api/midi/notes/{midi_id}", headers={"X-Job-Token": midi_token}).status_code == 200


def test_b_gets_404_from_every_route_naming_as_job_in_its_body(world):
    _app, a, b, jobs, own = world
    with_own_token = {name: (job_id, own[1]) for name, (job_id, _token) in jobs.items()}
    for key, make in BODY_ROUTES.items():
        method, path = key.split(" ", 1)
        for guess in (jobs, with_own_token):  # A's tokens, then B's own token on A's ids
            resp = b.request(method, path, **make(guess))
            assert resp.status_code == 404, (key, resp.status_code, resp.text[:200])
            assert resp.json()["detail"].startswith(("No such job", "Item 1 (vocals): No such job")), resp.json()
    # A's own calls succeed, so the 404s above are about ownership.
    assert a.post("/api/midi/merge", **BODY_ROUTES["POST /api/midi/merge"](jobs)).status_code == 200
    # Without a token B cannot tell that A's job exists either.
    no_token = b.post("/api/midi/convert", json={"source_job": jobs["stems"][0], "stem": "vocals"})
    assert no_token.status_code == 404


def test_lists_show_only_the_callers_jobs(world):
    _app, a, b, jobs, own = world
    a_ids = {j["job_id"] for j in a.get("/api/jobs", params={"limit": 500}).json()["jobs"]}
    b_ids = {j["job_id"] for j in b.get("/api/jobs", params={"limit": 500}).json()["jobs"]}
    assert b_ids == {own[0]}
    assert {jobs[k][0] for k in ("stems", "export", "midi", "speech", "zip")} <= a_ids and own[0] not in a_ids
    # B cannot cancel A's job, A still can cancel its own (B's own token on A's id is a 404 too).
    assert b.post(f"/api/jobs/{jobs['stems'][0]}/cancel", headers={"X-Job-Token": own[1]}).status_code == 404
    assert a.post(f"/api/jobs/{jobs['stems'][0]}/cancel",
                  headers={"X-Job-Token": jobs["stems"][1]}).status_code == 409  # finished: a conflict, not a 404
