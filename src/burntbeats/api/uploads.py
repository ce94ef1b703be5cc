"""Receiving uploads safely: size limits before the body is read, content-based validation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi import HTTPException, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from burntbeats.audio import AudioError, AudioInfo, probe

# Room for the multipart envelope and small form fields around the file itself.
MULTIPART_SLACK_BYTES = 256 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit_mb: int) -> None:
        super().__init__(status_code=413, detail=f"The upload is larger than the {limit_mb} MB limit.")


class UploadLimitMiddleware:
    """Rejects oversized request bodies with 413: at once from Content-Length, else while streaming.

    `limits` maps a path prefix to a size in MB (longest prefix wins); the body is never buffered here.
    """

    def __init__(self, app: ASGIApp, limits: dict[str, int]) -> None:
        self.app = app
        self.limits = sorted(limits.items(), key=lambda kv: -len(kv[0]))

    def _limit_for(self, path: str) -> int | None:
        for prefix, mb in self.limits:
            if path.startswith(prefix):
                return mb
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT"):
            return await self.app(scope, receive, send)
        limit_mb = self._limit_for(scope.get("path", ""))
        if limit_mb is None:
            return await self.app(scope, receive, send)
        max_bytes = limit_mb * 1024 * 1024 + MULTIPART_SLACK_BYTES
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            return await _send_json(send, 413, {"detail": f"The upload is larger than the {limit_mb} MB limit."})

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(limit_mb)
            return message

        await self.app(scope, limited_receive, send)


async def _send_json(send: Send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def save_and_probe(upload: UploadFile, dest: Path, max_bytes: int, max_duration_s: float,
                         scan: Callable[[Path], None] | None = None) -> AudioInfo:
    """Copy the upload to `dest` (bounded), `scan` it (the malware scan raises to refuse it) and check it is
    decodable audio within the limits."""

    def _copy() -> int:
        dest.parent.mkdir(parents=True, exist_ok=True)
        upload.file.seek(0)
        with open(dest, "wb") as out:
            shutil.copyfileobj(upload.file, out, length=1024 * 1024)
            return out.tell()

    size = await run_in_threadpool(_copy)
    if size > max_bytes:
        limit_mb = max_bytes // (1024 * 1024)
        raise HTTPException(status_code=413, detail=f"The upload is larger than the {limit_mb} MB limit.")
    if scan is not None:
        await run_in_threadpool(scan, dest)  # before any decoder reads it
    try:
        return await run_in_threadpool(probe, dest, max_duration_s)
    except AudioError:
        raise
    except Exception as exc:
        raise HTTPException(status_code=415, detail="The file could not be read as audio.") from exc
