"""JSON request bodies with bounds: size and nesting depth are checked before the parser runs.

The standard library's parser recurses once per level, so a body like `[[[[...]]]]` 100 000 levels deep
ends in a RecursionError (a 500) rather than a parse error; a size bound alone does not prevent it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 32 * 1024 * 1024

# A JSON string (escapes included): removed before counting brackets, which may appear inside strings.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


class JsonBodyError(ValueError):
    """The body is not JSON this API accepts; the message is a sentence for the user."""


def check_depth(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    depth = 0
    for byte in _STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        if byte in _OPENING:
            depth += 1
            if depth > max_depth:
                raise JsonBodyError(f"The JSON is nested too deeply: at most {max_depth} levels of objects and lists.")
        else:
            depth -= 1


def loads_bounded(data: bytes | str, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """json.loads with a size and nesting-depth bound (JsonBodyError with a sentence otherwise)."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise JsonBodyError(f"The JSON is larger than the {max_bytes // (1024 * 1024)} MB limit.")
    check_depth(raw, max_depth)
    try:
        return json.loads(raw)
    except ValueError:
        raise JsonBodyError("The request body is not valid JSON.") from None


def is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


class BoundedJsonRoute(APIRoute):
    """A route whose JSON body is size- and depth-checked before FastAPI (or the handler) parses it:
    413 / 422 with a sentence instead of a 500. The body is read once and cached on the request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded_handler(request: Request) -> Response:
            if is_json(request):
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
                    raise _too_large()
                body = await request.body()
                if len(body) > MAX_JSON_BYTES:
                    raise _too_large()
                try:
                    check_depth(body)
                except JsonBodyError as exc:
                    raise HTTPException(status_code=422, detail=str(exc)) from None
            return await handler(request)

        return bounded_handler


def _too_large() -> HTTPException:
    limit_mb = MAX_JSON_BYTES // (1024 * 1024)
    return HTTPException(status_code=413, detail=f"The JSON body is larger than the {limit_mb} MB limit.")
