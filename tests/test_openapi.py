"""The published OpenAPI: every error declared with the one error body (ErrorPublic), job states spelled out."""

from __future__ import annotations

from burntbeats.api.openapi import ERROR_REF, FILE_RESPONSES, OPERATION_ERRORS, OWN_ERROR_BODIES, WITHOUT_DATABASE
from burntbeats.api.schemas.errors import ERROR_DESCRIPTIONS, ErrorPublic

METHODS = ("get", "put", "post", "delete", "patch")


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_is_in_the_error_table(client):
    doc = client.get("/openapi.json").json()
    keys = {key for key, _ in _operations(doc)}
    assert keys - set(OPERATION_ERRORS) == set(), "add these operations to api/openapi.py OPERATION_ERRORS"
    assert set(OPERATION_ERRORS) - keys == set(), "these OPERATION_ERRORS entries name no route any more"
    assert set(FILE_RESPONSES) - keys == set(), "these FILE_RESPONSES entries name no route any more"
    assert set(WITHOUT_DATABASE) - keys == set(), "these WITHOUT_DATABASE entries name no route any more"


def test_database_routes_declare_503_with_retry_after(client):
    doc = client.get("/openapi.json").json()
    busy = doc["components"]["responses"]["ServiceUnavailable"]
    assert set(busy["headers"]) == {"Retry-After"}
    for key, operation in _operations(doc):
        if key.split(" ", 1)[1].startswith("/api/") and key not in WITHOUT_DATABASE:
            assert "503" in operation["responses"], key


def test_file_routes_declare_their_media_types_and_ranges(client):
    doc = client.get("/openapi.json").json()
    stem_file = doc["paths"]["/api/stems/file/{job_id}/{filename}"]["get"]["responses"]
    assert set(stem_file["200"]["content"]) == {"audio/wav", "audio/flac", "audio/mpeg"}
    assert stem_file["206"]["content"].keys() == stem_file["200"]["content"].keys() | {"multipart/byteranges"}


def test_errors_use_error_public_and_no_fastapi_validation_schema(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorPublic"]["properties"]["detail"]["type"] == "string"
    for key, operation in _operations(doc):
        errors = {int(code): r for code, r in operation["responses"].items()
                  if int(code) >= 400 and int(code) not in OWN_ERROR_BODIES.get(key, ())}
        assert set(errors) >= set(OPERATION_ERRORS[key]), key
        for code, response in errors.items():
            assert code in ERROR_DESCRIPTIONS, (key, code)
            if "$ref" in response:
                response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            assert response["content"] == {"application/json": {"schema": ERROR_REF}}, (key, code)
            assert response["description"], (key, code)


def test_uploads_and_job_routes_declare_their_errors(client):
    doc = client.get("/openapi.json").json()
    split = doc["paths"]["/api/stems/split"]["post"]["responses"]
    assert {"400", "413", "415", "422"} <= set(split)
    stem_file = doc["paths"]["/api/stems/file/{job_id}/{filename}"]["get"]["responses"]
    assert {"403", "404", "409", "410"} <= set(stem_file)


def test_a_validation_error_body_matches_error_public(client):
    resp = client.get("/api/jobs", params={"limit": "many"})
    assert resp.status_code == 422
    body = ErrorPublic.model_validate(resp.json())
    assert body.detail.startswith("Invalid request. limit:")
    assert body.errors and body.errors[0].loc == ["query", "limit"] and body.errors[0].type


def test_an_http_error_body_matches_error_public(client):
    resp = client.get("/api/stems/status/nope")
    assert resp.status_code == 404
    assert ErrorPublic.model_validate(resp.json()).errors is None


def _app_with_web_ui(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from burntbeats.api import app as app_module
    from conftest import make_settings

    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>Burnt Beats</title>")
    monkeypatch.setattr(app_module, "web_dist_dir", lambda: dist)
    return TestClient(app_module.create_app(make_settings(tmp_path)))


def test_wrong_method_is_405_naming_every_method_of_the_path(tmp_path, monkeypatch):
    with _app_with_web_ui(tmp_path, monkeypatch) as client:
        resp = client.get("/api/stems/split")  # the web UI's catch-all GET route must not answer API paths
        assert resp.status_code == 405 and resp.headers["allow"] == "POST"
        assert ErrorPublic.model_validate(resp.json()).detail == "GET is not allowed here; use POST."
        resp = client.delete("/api/midi/notes/abc")  # GET and PUT are two routes on one path
        assert resp.status_code == 405 and resp.headers["allow"] == "GET, PUT"


def test_unknown_api_path_is_a_json_404_and_other_paths_are_the_web_ui(tmp_path, monkeypatch):
    with _app_with_web_ui(tmp_path, monkeypatch) as client:
        for method in ("GET", "POST"):
            resp = client.request(method, "/api/no-such-thing")
            assert resp.status_code == 404
            assert resp.json() == {"detail": "No such path: /api/no-such-thing."}
        page = client.get("/midi/some-client-side-route")
        assert page.status_code == 200 and "Burnt Beats" in page.text


def test_job_state_literal_matches_the_model():
    from typing import get_args

    from burntbeats.api.schemas.common import JobState
    from burntbeats.models import JobStatus

    assert set(get_args(JobState)) == set(JobStatus.ALL)
