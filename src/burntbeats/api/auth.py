"""Who is calling: the request's user, from a session cookie, an API key or (when configured) an external JWT.

Default (AUTH_REQUIRED unset): every request is the one local user and nothing is read. AUTH_REQUIRED=1: the
job routers depend on :func:`current_caller`, which answers 401 with a sentence to anonymous requests.

Cookies and CSRF: the session cookie is httpOnly, SameSite=Lax (Secure behind https). An unsafe request
(POST/PUT/PATCH/DELETE) authenticated by the cookie must also carry `X-CSRF-Token`, whose value is an HMAC of
the session token (signed double submit: the SPA reads it from the `bb_csrf` cookie or the sign-in answer).
Requests with `Authorization: Bearer` are not cookie-authenticated and need no CSRF token; cross-site
writes are refused before this anyway (api/security.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from burntbeats.accounts import apikeys, external, users
from burntbeats.accounts.external import Issuer
from burntbeats.api.database import request_session
from burntbeats.errors import Forbidden, Unauthorized
from burntbeats.guard.ratelimit import CLIENT_IP
from burntbeats.models import LOCAL_USER_ID, User
from burntbeats.settings import Settings

SESSION_COOKIE = "bb_session"
CSRF_COOKIE = "bb_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_HINT = ("Sign in first: POST /api/auth/sign-in with your email and password (the web app's sign-in "
                "page), or send `Authorization: Bearer <API key>`.")


@dataclass(frozen=True)
class Caller:
    """The user a request acts for, and how it proved it (local = auth is off)."""

    user_id: str
    via: str  # "local" | "session" | "api_key" | "jwt" (an external identity's bearer token)
    session_token: str | None = None


LOCAL_CALLER = Caller(LOCAL_USER_ID, "local")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def csrf_token(secret: str, session_token: str) -> str:
    mac = hmac.new(secret.encode(), f"csrf:{session_token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("Send the API key as `Authorization: Bearer <key>`.")
    return credentials.strip()


def _check_user(user: User | None, what: str) -> User:
    if user is None:
        raise Unauthorized(f"{what} {SIGN_IN_HINT}")
    if user.disabled_at is not None:
        raise Forbidden("This account is disabled; ask the server's operator.")
    return user


def _jwt_caller(session: Session, issuer: Issuer, token: str) -> Caller:
    try:
        claims = external.verify(issuer, token)
    except external.InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    user = external.subject_user(session, issuer.subject_id(str(claims["sub"])), claims.get("email"),
                                 claims.get("name"))
    return Caller(_check_user(user, "").id, "jwt")


def _authenticate(session: Session, request: Request, secret: str, issuer: Issuer | None) -> Caller | None:
    """The caller named by the request's credentials; None when it carries none (raises when they are bad)."""
    bearer = _bearer(request)
    if bearer is not None:
        if apikeys.looks_like_key(bearer):
            user = _check_user(apikeys.key_user(session, bearer), "This API key is unknown or was revoked.")
            return Caller(user.id, "api_key")
        if issuer is not None:
            return _jwt_caller(session, issuer, bearer)
        raise Unauthorized(f"This bearer token is not an API key of this server. {SIGN_IN_HINT}")
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = users.session_user(session, token)
    if user is None:
        return None  # signed out elsewhere or expired: anonymous (a job route then says how to sign in)
    _check_user(user, "")
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or ""
        if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), csrf_token(secret, token).encode()):
            raise Forbidden("Missing or wrong X-CSRF-Token header: send the csrf_token from the sign-in answer "
                            f"(or the {CSRF_COOKIE} cookie) with every change.")
    return Caller(user.id, "session", session_token=token)


async def optional_caller(request: Request) -> Caller | None:
    """The caller, or None for an anonymous request in AUTH_REQUIRED mode (bad credentials still raise)."""
    CLIENT_IP.set(client_ip(request))  # for the submission rate limit per address (jobs/admission.py)
    if "caller" in request.scope.get("state", {}):
        return request.state.caller
    state = request.app.state.burntbeats
    if not state.settings.auth_required:
        caller: Caller | None = LOCAL_CALLER
    else:
        async with request_session(request) as session:
            caller = await run_in_threadpool(_authenticate, session, request, state.secret, state.issuer)
    request.state.caller = caller
    return caller


async def current_caller(request: Request) -> Caller:
    """The caller; 401 with a sentence for an anonymous request when AUTH_REQUIRED is set."""
    caller = await optional_caller(request)
    if caller is None:
        raise Unauthorized(f"This server requires an account. {SIGN_IN_HINT}")
    return caller


def request_caller(request: Request) -> Caller:
    """The caller that :func:`current_caller` resolved for this request (the job routers depend on it)."""
    caller = request.scope.get("state", {}).get("caller")
    if caller is None:
        raise Unauthorized(f"This server requires an account. {SIGN_IN_HINT}")
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]


def _secure(request: Request, settings: Settings) -> bool:
    if settings.cookie_secure == "auto":
        return request.url.scheme == "https"
    return settings.cookie_secure == "always"


def set_session_cookies(response: Response, request: Request, settings: Settings, secret: str, token: str) -> str:
    """Sets the session cookie (httpOnly) and the CSRF cookie (readable by the page); returns the CSRF token."""
    max_age = int(settings.session_ttl_hours * 3600)
    secure = _secure(request, settings)
    csrf = csrf_token(secret, token)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/")
    return csrf


def clear_session_cookies(response: Response, request: Request, settings: Settings) -> None:
    secure = _secure(request, settings)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="lax", secure=secure)
