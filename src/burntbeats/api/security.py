"""Safe by default for a server on localhost that any web page the user visits can reach.

- Host check (Starlette's TrustedHostMiddleware): DNS rebinding of evil.example to 127.0.0.1 is refused.
- Cross-site writes refused (Sec-Fetch-Site / Origin), so no CSRF token is needed: curl and the CLI send
  neither header and keep working; the SPA is same-origin.
- Security headers on every response, with a CSP the SPA passes (and a relaxed one for /docs).
- Job tokens travel in URLs (``?token=`` for <audio src>): redacted from the access log.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from burntbeats.settings import parse_list

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The SPA: its own scripts only; wavesurfer.js injects a <style> into its shadow root (hence
# 'unsafe-inline' for styles, not scripts); audio and downloads use blob: URLs.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's Swagger UI / ReDoc pages load their bundles from jsDelivr and start them with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")

COMMON_HEADERS = {
    b"x-content-type-options": b"nosniff",
    # URLs carry job tokens: never send them to another site in Referer.
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
    # Other sites may not embed our files (<audio src=...?token=>) either.
    b"cross-origin-resource-policy": b"same-origin",
}


def host_pattern(host: str) -> str:
    """A host as the Host header carries it: IPv6 literals in brackets, lower case."""
    host = host.strip().lower()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def default_allowed_hosts(bound_host: str) -> list[str]:
    hosts = ["localhost", "127.0.0.1", "[::1]"]
    if bound_host not in ("0.0.0.0", "::", ""):
        hosts.insert(0, host_pattern(bound_host))
    return list(dict.fromkeys(hosts))


async def send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class AllowedHostsMiddleware:
    """Starlette's TrustedHostMiddleware, answering a refused host with our JSON error body."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed_hosts = [host_pattern(h) if h != "*" else h for h in allowed_hosts]
        self.check = TrustedHostMiddleware(self._passed, allowed_hosts=self.allowed_hosts, www_redirect=False)

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["burntbeats.host_ok"] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)

        async def refuse_or_pass(message: Message) -> None:
            if scope.get("burntbeats.host_ok"):
                return await send(message)
            if message["type"] == "http.response.start":
                host = (Headers(scope=scope).get("host") or "")[:100]
                await send_json(send, 400, f"The Host header {host!r} is not one this server answers to; "
                                           "add it to ALLOWED_HOSTS if it is yours.")

        await self.check(scope, receive, refuse_or_pass)


class CrossSiteWriteMiddleware:
    """Refuses unsafe-method requests a browser sent from another site (403 with a sentence).

    A browser marks every request with Origin and/or Sec-Fetch-Site; curl and the CLI send neither and are
    allowed. `allowed_origins` lists other front ends of this server (e.g. ``https://music.example.com``).
    """

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}

    def refusal(self, headers: Headers) -> str | None:
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site")
        if origin is not None and origin.rstrip("/").lower() in self.allowed_origins:
            return None
        if site in ("cross-site", "same-site"):
            return f"Cross-site request refused: this server accepts changes only from its own pages ({site})."
        if origin is not None and urlsplit(origin).netloc.lower() != (headers.get("host") or "").lower():
            return (f"Cross-origin request refused: the Origin {origin[:100]!r} is not this server; "
                    "add it to ALLOWED_ORIGINS if it is your own front end.")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in UNSAFE_METHODS:
            reason = self.refusal(Headers(scope=scope))
            if reason:
                return await send_json(send, 403, reason)
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (a header a route set itself is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else APP_CSP
        extra = {**COMMON_HEADERS, b"content-security-policy": csp.encode()}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# token=..., job_token=..., batch_token=..., source_token=... in query strings; Authorization values.
_SECRET_IN_TEXT = re.compile(r"((?:^|[?&;\s])(?:[a-z_]*token)=)[^&\s\"']*", re.IGNORECASE)
_AUTHORIZATION = re.compile(r"(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?[^\s\"',]+", re.IGNORECASE)
REDACTED = "REDACTED"


def redact(text: str) -> str:
    text = _SECRET_IN_TEXT.sub(rf"\g<1>{REDACTED}", text)
    return _AUTHORIZATION.sub(rf"\g<1>{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a log record's message and arguments so no token or Authorization value is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


# Job status polls, the MIDI batch poll, one job's record, /health and /metrics (path, query string optional).
_POLL_PATH = re.compile(r"/(?:health|metrics|api/(?:[a-z_-]+/)*status/[^/?]+|api/midi/batch/[^/?]+|api/jobs/[^/?]+)"
                        r"(?:\?.*)?")


class SkipPollsFilter(logging.Filter):
    """Drops the access-log line of a successful poll. An open job page polls every second (3,600 lines an hour
    per tab), probes call /health, Prometheus scrapes /metrics: the log would be mostly polls, and writing
    each line cost ~15 % of a poll's CPU (docs/performance.md). /metrics still counts every request; refusals,
    errors and all other requests are logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args  # uvicorn.access: (client address, method, path + query, HTTP version, status)
        if isinstance(args, tuple) and len(args) == 5:
            _, method, path, _, status = args
            if (method in ("GET", "HEAD") and isinstance(status, int) and 200 <= status < 400
                    and isinstance(path, str) and _POLL_PATH.fullmatch(path)):
                return False
        return True


ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access")


def install_log_redaction() -> None:
    """Idempotent: the access loggers (they write the full path, query string included) skip successful polls
    and redact tokens."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        for kind in (SkipPollsFilter, RedactSecretsFilter):  # skipping first: a dropped line is never rewritten
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())


def install_security(app, settings) -> None:
    """Add the middlewares: headers (outermost), then the host check, then the cross-site check."""
    hosts = parse_list(settings.allowed_hosts) or default_allowed_hosts(settings.host)
    if not parse_list(settings.allowed_hosts) and settings.host in ("0.0.0.0", "::"):
        log.warning("HOST=%s listens on every interface but only localhost names are accepted; set "
                    "ALLOWED_HOSTS to the names clients use for this server.", settings.host)
    install_log_redaction()
    cors = [o.rstrip("/") for o in parse_list(settings.cors_origins)]
    # add_middleware wraps: the last added runs first, so even a refusal carries the security headers.
    app.add_middleware(CrossSiteWriteMiddleware, allowed_origins=parse_list(settings.allowed_origins) + cors)
    if cors:
        # Pages of these origins may call the API with credentials (cookies, Authorization); no one else.
        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_credentials=True,
                           allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Job-Token", "Range"],
                           expose_headers=["Retry-After", "Content-Disposition", "Content-Range", "X-Midi-Tracks"],
                           max_age=600)
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=hosts)
    app.add_middleware(SecurityHeadersMiddleware)
