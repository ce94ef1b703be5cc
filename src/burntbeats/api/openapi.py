"""The published OpenAPI document, made to match what the API answers.

FastAPI documents a 422 as ``{"detail": [ValidationError, ...]}`` and no other error at all; this API answers
every error as :class:`ErrorPublic` (``detail`` is a sentence). :func:`install_openapi` wraps ``app.openapi()``
so that every operation declares the error statuses it returns (:data:`OPERATION_ERRORS`, one table for the
whole API) with that one body, and FastAPI's own validation-error schemas are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from burntbeats.api.schemas.errors import ERROR_DESCRIPTIONS, ErrorPublic

REF_PREFIX = "#/components/schemas/"
ERROR_REF = {"$ref": f"{REF_PREFIX}{ErrorPublic.__name__}"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

# Groups of statuses that go together.
# A job (or batch / export) named by id and checked against its token; 410 once its owner deleted it.
JOB = frozenset({403, 404, 410})
FINISHED = JOB | {409, 410}  # ...that must have succeeded and still have its files
UPLOAD = frozenset({400, 415, 507})  # an audio upload: empty, not audio, disk full
# Admission, the same for every kind: the queue is full (503 + Retry-After), not enough usage tokens (402) or
# outside the caller's plan (403; every route declares 403 anyway), too many submissions (429 + Retry-After).
QUEUE = frozenset({402, 429, 503})
WRITES = frozenset({507})  # writes files outside an upload (disk full)
OFF = frozenset({404})  # a feature that is off on this server (accounts without AUTH_REQUIRED)

# Every operation's errors besides the ones every route may answer (see _declared_statuses).
OPERATION_ERRORS: dict[str, frozenset[int]] = {
    "GET /health": frozenset(),
    "GET /metrics": frozenset(),
    "GET /api/jobs": frozenset(),
    "GET /api/jobs/{job_id}": JOB,
    "PATCH /api/jobs/{job_id}": JOB,
    "DELETE /api/jobs/{job_id}": JOB | {409},
    "POST /api/jobs/{job_id}/cancel": JOB | {409},
    "POST /api/jobs/{job_id}/retry": FINISHED | QUEUE | WRITES,
    "GET /api/models": frozenset(),
    "GET /api/stems/modes": frozenset(),
    "GET /api/limits": frozenset(),
    "POST /api/stems/split": UPLOAD | QUEUE,
    "GET /api/stems/status/{job_id}": JOB,
    "GET /api/stems/file/{job_id}/{filename}": FINISHED,
    "GET /api/stems/original/{job_id}": JOB | {410},
    "GET /api/stems/playback/{job_id}/{stem}": FINISHED,
    "GET /api/stems/playback-file/{job_id}/{filename}": FINISHED,
    "GET /api/stems/archive/{job_id}": FINISHED,
    "POST /api/stems/expand/{job_id}": FINISHED | QUEUE,
    "POST /api/stems/server-export": FINISHED | QUEUE,
    "GET /api/stems/server-export/{job_id}": JOB,
    "GET /api/stems/export-file/{job_id}/{filename}": FINISHED,
    "POST /api/speech/enhance": UPLOAD | QUEUE,
    "GET /api/speech/status/{job_id}": JOB,
    "GET /api/speech/file/{job_id}/{filename}": FINISHED,
    "GET /api/speech/original/{job_id}": JOB | {410},
    "POST /api/midi/convert": UPLOAD | FINISHED | QUEUE,
    "GET /api/midi/status/{job_id}": JOB,
    "GET /api/midi/file/{job_id}/{filename}": FINISHED,
    "GET /api/midi/notes/{job_id}": FINISHED,
    "PUT /api/midi/notes/{job_id}": FINISHED | WRITES,
    "POST /api/midi/notes/{job_id}/undo": FINISHED | WRITES,
    "GET /api/midi/notes/{job_id}/versions": FINISHED,
    "POST /api/midi/notes/{job_id}/restore/{version}": FINISHED | WRITES,
    "POST /api/midi/batch": UPLOAD | FINISHED | QUEUE,
    "GET /api/midi/batch/{batch_id}": JOB,
    "POST /api/midi/merge": FINISHED | WRITES,
    "POST /api/midi/export": FINISHED | QUEUE,
    "GET /api/midi/export/status/{export_id}": JOB,
    "GET /api/midi/export/file/{export_id}/{filename}": FINISHED,
    "GET /api/auth/me": frozenset(),
    "POST /api/auth/sign-up": OFF | {403, 409, 429},
    "POST /api/auth/sign-in": OFF | {429},
    "POST /api/auth/sign-out": OFF,
    "GET /api/auth/keys": OFF,
    "POST /api/auth/keys": OFF,
    "DELETE /api/auth/keys/{key_id}": OFF,
    "GET /api/admin/users": OFF,
    "POST /api/admin/users/{user_id}/disable": OFF,
    "POST /api/admin/users/{user_id}/enable": OFF,
    "GET /api/admin/jobs": OFF,
    "GET /api/admin/usage": OFF,
    "GET /api/plans": frozenset(),
    "GET /api/billing/quote": frozenset({422}),
    "POST /api/auth/clerk/webhook": OFF | {422},
    "GET /api/billing/balance": frozenset(),
    "GET /api/billing/ledger": frozenset({422}),
    # Payments off (no STRIPE_SECRET_KEY / price) -> 404; nothing to manage or a subscription already -> 409;
    # Stripe unreachable -> 503.
    "POST /api/billing/checkout": OFF | {409, 422},
    "POST /api/billing/portal": OFF | {409},
    "POST /api/billing/plan": OFF | {409, 422},
    "POST /api/billing/webhook": OFF | {400, 422},
    "POST /api/admin/billing/adjust": OFF | {422},
    "GET /api/admin/billing/usage": OFF | {422},
}

# Error answers whose body is the route's own model, not ErrorPublic: /health's 503 is its HealthPublic, which
# says which dependency is down.
OWN_ERROR_BODIES: dict[str, frozenset[int]] = {"GET /health": frozenset({503})}

# Routes that answer a file: its media types replace FastAPI's default `application/json` for the 200,
# and a Range request gets a 206 of the same (FileResponse serves byte ranges).
AUDIO = ("audio/wav", "audio/flac", "audio/mpeg")
FILE_RESPONSES: dict[str, tuple[str, ...]] = {
    "GET /api/stems/file/{job_id}/{filename}": AUDIO,
    "GET /api/stems/original/{job_id}": ("application/octet-stream",),
    "GET /api/stems/playback-file/{job_id}/{filename}": ("audio/ogg",),
    "GET /api/stems/export-file/{job_id}/{filename}": ("audio/wav", "audio/mpeg"),
    "GET /api/speech/file/{job_id}/{filename}": AUDIO,
    "GET /api/speech/original/{job_id}": ("application/octet-stream",),
    "GET /api/midi/file/{job_id}/{filename}": ("audio/midi", "application/json"),
    "GET /api/midi/export/file/{export_id}/{filename}": ("application/zip",),
}
_FILE_SCHEMA = {"type": "string", "format": "binary"}


def _declare_file_responses(key: str, responses: dict[str, Any]) -> None:
    media_types = FILE_RESPONSES[key]
    content = {media_type: {"schema": {"type": "object"} if media_type == "application/json" else _FILE_SCHEMA}
               for media_type in media_types}
    described = responses.get("200", {}).get("description")
    responses["200"] = {"description": described if described not in (None, "Successful Response") else "The file",
                        "content": content}
    several = {"multipart/byteranges": {"schema": _FILE_SCHEMA}}  # a Range of several parts
    responses["206"] = {"description": "The requested byte range(s) (Range header)", "content": {**content, **several}}


_RANGE_HEADER = {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "A byte range, e.g. `bytes=0-1023` (answered with 206)."}


def _declare_range_header(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("in") == "header" and p.get("name", "").lower() == "range" for p in parameters):
        parameters.append(_RANGE_HEADER)


_BODY_METHODS = ("post", "put", "patch")
_UNSAFE_METHODS = ("post", "put", "patch", "delete")


# Operations that never open a database session (every other /api/ route may answer 503: api/database.py).
WITHOUT_DATABASE = frozenset({"GET /api/models", "GET /api/limits", "GET /api/plans"})
# Operations that never look at the caller; every other /api/ route may answer 401 (no or bad credentials under
# AUTH_REQUIRED) and 403 (a disabled account, a cookie change without its CSRF token): api/auth.py.
WITHOUT_CALLER = frozenset({"GET /api/models", "GET /api/limits", "GET /api/stems/modes", "GET /api/plans",
                            "POST /api/auth/clerk/webhook"})
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}


def _declared_statuses(key: str, method: str, operation: dict[str, Any]) -> set[int]:
    statuses = set(OPERATION_ERRORS.get(key, ()))
    if key.split(" ", 1)[1].startswith("/api/") and key not in WITHOUT_DATABASE:
        statuses.add(503)  # api/database.py: the database is busy or unreachable
    if key.split(" ", 1)[1].startswith("/api/") and key not in WITHOUT_CALLER:
        statuses |= {401, 403}  # api/auth.py
    if key in FILE_RESPONSES:
        statuses.add(416)  # a Range outside the file
    statuses.add(400)  # api/security.py: a Host header not in ALLOWED_HOSTS
    if method in _UNSAFE_METHODS:
        statuses.add(403)  # api/security.py: a cross-site request (Origin / Sec-Fetch-Site)
    if "422" in operation.get("responses", {}) or operation.get("requestBody"):
        statuses.add(422)  # FastAPI validates the parameters / body: our handler answers ErrorPublic
    if method in _BODY_METHODS and key.split(" ", 1)[1].startswith("/api/"):
        statuses.add(413)  # UploadLimitMiddleware caps every request body under /api/
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        statuses.add(400)  # FastAPI: a body that is not JSON at all
    return statuses


def _response_name(status: int) -> str:
    """'NotFound' for 404: the name of the shared response under components/responses."""
    return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")


def declare_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document in place: ErrorPublic for every declared error, no HTTPValidationError.

    Each status is one shared response (``#/components/responses/NotFound``...); an operation that gave a
    status its own description keeps it, with the same body.
    """
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorPublic.model_json_schema(ref_template=REF_PREFIX + "{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas[ErrorPublic.__name__] = error_schema
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    shared = components.setdefault("responses", {})
    error_content = {"application/json": {"schema": ERROR_REF}}

    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if f"{method.upper()} {path}" in FILE_RESPONSES:
                _declare_file_responses(f"{method.upper()} {path}", responses)
                _declare_range_header(operation)
            for status in sorted(_declared_statuses(f"{method.upper()} {path}", method, operation)):
                own = responses.get(str(status), {}).get("description")
                if own in (None, "Validation Error", HTTPStatus(status).phrase):  # FastAPI's placeholders
                    name = _response_name(status)
                    shared[name] = {"description": ERROR_DESCRIPTIONS[status], "content": error_content,
                                    **({"headers": RETRY_AFTER} if status in (429, 503) else {})}
                    responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
                else:
                    responses[str(status)] = {**responses[str(status)], "content": error_content,
                                              **({"headers": RETRY_AFTER} if status in (429, 503) else {})}
            operation["responses"] = dict(sorted(responses.items()))
    components["responses"] = dict(sorted(shared.items(), key=lambda kv: kv[0]))
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so /openapi.json and /docs) return the document with the errors declared."""
    build: Callable[[], dict[str, Any]] = app.openapi
    rewritten: list[dict[str, Any]] = []  # the cached document once rewritten (FastAPI rebuilds it on route changes)

    def openapi() -> dict[str, Any]:
        schema = build()
        if not rewritten or rewritten[0] is not schema:
            rewritten[:] = [declare_errors(schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
