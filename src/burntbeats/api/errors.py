"""Domain errors -> HTTP statuses, in one place. Services raise `burntbeats.errors.*` (and AudioError);
this module turns each into a JSON `{"detail": "<a sentence>"}` with its status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from burntbeats.audio import AudioError
from burntbeats.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    Overloaded,
    PaymentRequired,
    RateLimited,
    Unauthorized,
)
from burntbeats.storage import InvalidName

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidRequest: 422,
    NotFound: 404,
    Unauthorized: 401,
    PaymentRequired: 402,
    Forbidden: 403,
    Conflict: 409,
    Gone: 410,
    Overloaded: 503,
    RateLimited: 429,
}


def status_of(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def domain_error_response(exc: DomainError) -> JSONResponse:
    headers = None
    if isinstance(exc, (Overloaded, RateLimited)):
        headers = {"Retry-After": str(exc.retry_after_s)}
    elif isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": 'Bearer realm="burntbeats"'}
    return JSONResponse(status_code=status_of(exc), content={"detail": exc.message}, headers=headers)


def install_domain_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(AudioError)
    async def audio_error(_request: Request, exc: AudioError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    @app.exception_handler(InvalidName)
    async def invalid_name(_request: Request, _exc: InvalidName) -> JSONResponse:
        # A crafted job id or file name never reaches the disk: the same answer as an unknown one.
        return JSONResponse(status_code=404, content={"detail": "No such job or file."})
