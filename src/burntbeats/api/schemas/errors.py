"""The one shape of every error body the API returns (4xx and 5xx alike)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ValidationErrorItem(BaseModel):
    """One invalid field of a 422, as Pydantic reports it."""

    loc: list[str | int] = Field(description="Where the bad value is, e.g. ['query', 'limit'] or ['body', 'stems'].")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="Pydantic's error type, e.g. 'missing' or 'less_than_equal'.")


class ErrorPublic(BaseModel):
    """Every error: a sentence in `detail`; a 422 from request validation also lists each invalid field in `errors`."""

    detail: str = Field(description="A sentence saying what went wrong and, where it helps, what to do.")
    errors: list[ValidationErrorItem] | None = Field(
        default=None, description="Only on 422 from request validation: one entry per invalid field."
    )


# What each error status means in this API; the OpenAPI description of every declared error response.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be used as sent (e.g. an empty upload, or a Host not in ALLOWED_HOSTS).",
    401: "Not signed in, or credentials this server does not know (AUTH_REQUIRED); `detail` says how to sign in.",
    402: "Not enough usage tokens for this job (USAGE_TOKENS_ENABLED); `detail` says its cost, the balance and how "
         "to get more.",
    403: "Missing or invalid token, the feature is disabled on this server, a disabled account, a missing CSRF "
         "token, a cross-site request was refused, or the request is outside the caller's plan (`detail` names "
         "the limit and the plan that lifts it).",
    404: "No such job, file or version, or a feature that is off on this server.",
    409: "The job is not in a state that allows this (not finished yet, already finished, edited since).",
    410: "The job was deleted, or its files have expired and were removed.",
    413: "The request body is larger than the upload limit.",
    415: "The upload is not audio this server can read, or the body is not of a supported content type.",
    416: "The Range header asks for bytes outside the file.",
    422: "A parameter or body field is invalid; `detail` names it.",
    429: "A rate limit was reached (sign-in, sign-up or job submissions); retry after Retry-After.",
    503: "The server is busy (the queue is full, or the database is busy or unreachable); retry after Retry-After.",
    507: "The server's disk is full.",
}
