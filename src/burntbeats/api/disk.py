"""A full disk is an answer, not a crash: 507 with a sentence, uploads refused before the disk is full.

- :class:`LowDiskMiddleware` refuses an upload (multipart body) with 507 before reading it when DATA_DIR's
  free space, less what the upload needs (spooled, then copied), would fall under MIN_FREE_DISK_MB.
- :func:`install_disk_full_handlers`: ENOSPC / EDQUOT (or SQLite's "database or disk is full") anywhere in a
  request becomes a 507. The submission path removes what it stored, so nothing half-written is left.
- :func:`disk_health` is what /health reports.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from burntbeats.api.security import send_json
from burntbeats.diskspace import free_bytes, is_disk_full

__all__ = ["DISK_FULL_DETAIL", "LowDiskMiddleware", "disk_full_response", "disk_health", "free_bytes",
           "install_disk_full_handlers", "is_disk_full"]
DISK_FULL_DETAIL = "The server's disk is full, so nothing was stored; please try again later."
MB = 1024 * 1024


def disk_full_response() -> JSONResponse:
    return JSONResponse(status_code=507, content={"detail": DISK_FULL_DETAIL})


def low_disk_detail(free: int, min_free: int) -> str:
    return (f"The server is low on disk space ({free // MB} MB free; it keeps at least {min_free // MB} MB, "
            "MIN_FREE_DISK_MB), so new uploads are refused until space is freed.")


def disk_health(data_dir: Path, min_free_mb: int) -> dict:
    free = free_bytes(data_dir)
    return {"free_bytes": free, "min_free_bytes": min_free_mb * MB, "ok": free >= min_free_mb * MB}


class LowDiskMiddleware:
    """507 for an upload that would leave less than `min_free_mb` free in `data_dir` (checked before reading)."""

    def __init__(self, app: ASGIApp, data_dir: Path, min_free_mb: int) -> None:
        self.app = app
        self.data_dir = Path(data_dir)
        self.min_free = min_free_mb * MB

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("POST", "PUT") and self.min_free:
            headers = Headers(scope=scope)
            if headers.get("content-type", "").startswith("multipart/form-data"):
                length = headers.get("content-length", "")
                # The body is spooled, then copied into the job's folder: twice its size, for a moment.
                needed = self.min_free + (2 * int(length) if length.isdigit() else 0)
                free = free_bytes(self.data_dir)
                if free < needed:
                    return await send_json(send, 507, low_disk_detail(free, self.min_free))
        await self.app(scope, receive, send)


def install_disk_full_handlers(app: FastAPI) -> None:
    """ENOSPC and SQLITE_FULL -> 507. Any other OSError goes on to the 500 handler, any other OperationalError
    to the handler installed before this one (api/database.py: 503), so install this one last."""
    previous_database_handler = app.exception_handlers.get(OperationalError)

    @app.exception_handler(OSError)
    async def os_error(_request: Request, exc: OSError) -> JSONResponse:
        if is_disk_full(exc):
            return disk_full_response()
        raise exc

    @app.exception_handler(OperationalError)
    async def database_error(request: Request, exc: OperationalError) -> JSONResponse:
        if is_disk_full(exc):
            return disk_full_response()
        if previous_database_handler is not None:
            return await previous_database_handler(request, exc)
        raise exc
