"""Accounts: sign-up, sign-in, sign-out, who am I, personal API keys (AUTH_REQUIRED=1; README "Accounts")."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from burntbeats.accounts import apikeys, users
from burntbeats.api.auth import (
    CallerDep,
    OptionalCallerDep,
    clear_session_cookies,
    client_ip,
    csrf_token,
    set_session_cookies,
)
from burntbeats.api.common import iso_time
from burntbeats.api.deps import SessionDep, StateDep
from burntbeats.api.schemas.auth import (
    ApiKeyCreatedPublic,
    ApiKeyCreateRequest,
    ApiKeyListPublic,
    ApiKeyPublic,
    MePublic,
    SignedInPublic,
    SignedOutPublic,
    SignInRequest,
    SignUpRequest,
)
from burntbeats.errors import Forbidden, NotFound, RateLimited, Unauthorized
from burntbeats.guard import ratelimit
from burntbeats.models import ApiKey, User

router = APIRouter(prefix="/api/auth", tags=["accounts"])
ACCOUNTS_OFF = ("Accounts are off on this server (it has one local user); an operator turns them on with "
                "AUTH_REQUIRED=1.")


def user_public(user: User) -> dict:
    return {"id": user.id, "email": user.email, "display_name": user.display_name, "is_admin": bool(user.is_admin),
            "created_at": iso_time(user.created_at)}


def key_public(row: ApiKey) -> dict:
    return {"id": row.id, "name": row.name, "created_at": iso_time(row.created_at),
            "last_used_at": iso_time(row.last_used_at), "revoked_at": iso_time(row.revoked_at)}


def _require_accounts(state) -> None:
    if not state.settings.auth_required:
        raise NotFound(ACCOUNTS_OFF)


@router.get("/me", name="auth.me", response_model=MePublic, summary="Whether accounts are on, and who is signed in")
def me(request: Request, state: StateDep, session: SessionDep, caller: OptionalCallerDep) -> dict:
    settings = state.settings
    user = session.get(User, caller.user_id) if caller else None
    token = caller.session_token if caller else None
    return {"auth_required": settings.auth_required,
            "signup_enabled": settings.auth_required and settings.signup_enabled,
            "user": user_public(user) if user else None, "via": caller.via if caller else None,
            "csrf_token": csrf_token(state.secret, token) if token else None}


def _signed_in(request: Request, response: Response, state, session: Session, user: User) -> dict:
    token = users.start_session(session, user, state.settings.session_ttl_hours)
    csrf = set_session_cookies(response, request, state.settings, state.secret, token)
    return {"user": user_public(user), "csrf_token": csrf}


@router.post("/sign-up", status_code=201, name="auth.sign_up", response_model=SignedInPublic,
             summary="Create a local account and sign in (sets the session cookie)")
async def sign_up(request: Request, response: Response, body: SignUpRequest, state: StateDep,
                  session: SessionDep) -> dict:
    _require_accounts(state)
    settings = state.settings
    if not settings.signup_enabled:
        raise Forbidden("Sign-up is closed on this server (SIGNUP_ENABLED=false); ask its operator for an account.")
    ratelimit.hit(settings, settings.rate_limit_sign_up, "sign-ups from this address", "sign-up", client_ip(request))

    def create() -> dict:
        user = users.create_user(session, body.email, body.password, body.display_name)
        return _signed_in(request, response, state, session, user)

    return await run_in_threadpool(create)


@router.post("/sign-in", name="auth.sign_in", response_model=SignedInPublic,
             summary="Sign in with email and password (sets the session cookie)")
async def sign_in(request: Request, response: Response, body: SignInRequest, state: StateDep,
                  session: SessionDep) -> dict:
    _require_accounts(state)
    settings = state.settings
    ratelimit.hit(settings, settings.rate_limit_sign_in, "sign-in attempts from this address", "sign-in",
                  client_ip(request))
    # Failed sign-ins are counted per email whether or not an account has it: the answer, and its timing
    # (argon2 runs either way), never tell whether it exists.
    email_key = ("sign-in-failed", body.email.strip().lower()[:320])
    wait = ratelimit.exhausted(settings, settings.rate_limit_sign_in_failures, *email_key)
    if wait is not None:
        raise RateLimited(f"Too many failed sign-ins for this email. Try again in {wait} seconds.", retry_after_s=wait)

    def check() -> dict:
        user = users.authenticate(session, body.email, body.password)
        if user is None:
            try:
                ratelimit.hit(settings, settings.rate_limit_sign_in_failures, "failed sign-ins", *email_key)
            except RateLimited:
                pass  # this failure used up the allowance: the next attempt is refused
            raise Unauthorized(users.WRONG_CREDENTIALS)
        return _signed_in(request, response, state, session, user)

    return await run_in_threadpool(check)


@router.post("/sign-out", name="auth.sign_out", response_model=SignedOutPublic,
             summary="End this browser's sign-in (clears the session cookie)")
def sign_out(request: Request, response: Response, state: StateDep, session: SessionDep,
             caller: OptionalCallerDep) -> dict:
    _require_accounts(state)
    if caller is not None and caller.session_token:
        users.end_session(session, caller.session_token)
    clear_session_cookies(response, request, state.settings)
    return {"signed_out": True}


@router.get("/keys", name="auth.keys", response_model=ApiKeyListPublic, summary="Your API keys (not revoked)")
def list_keys(state: StateDep, session: SessionDep, caller: CallerDep) -> dict:
    _require_accounts(state)
    return {"keys": [key_public(k) for k in apikeys.list_keys(session, caller.user_id)]}


@router.post("/keys", status_code=201, name="auth.keys.create", response_model=ApiKeyCreatedPublic,
             summary="Create an API key (the key is shown only in this answer)")
def create_key(body: ApiKeyCreateRequest, state: StateDep, session: SessionDep, caller: CallerDep) -> dict:
    _require_accounts(state)
    row, key = apikeys.create_key(session, session.get(User, caller.user_id), body.name)
    return {**key_public(row), "key": key}


@router.delete("/keys/{key_id}", name="auth.keys.revoke", response_model=ApiKeyPublic,
               summary="Revoke an API key (it stops working at once)")
def revoke_key(key_id: str, state: StateDep, session: SessionDep, caller: CallerDep) -> dict:
    _require_accounts(state)
    return key_public(apikeys.revoke_key(session, caller.user_id, key_id))
