"""Clerk's user webhooks, verified with the svix library (CLERK_WEBHOOK_SECRET; off = 404).

`user.created` creates the account of that external identity; `user.deleted` removes the user with every job
and file of theirs. Other events are acknowledged and ignored.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from burntbeats.accounts import external, users
from burntbeats.api.deps import SessionDep, StateDep
from burntbeats.api.schemas.auth import WebhookResultPublic
from burntbeats.errors import InvalidRequest, NotFound
from burntbeats.models import User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/auth", tags=["accounts"])
MAX_BODY = 1 << 20


def _primary_email(data: dict) -> str | None:
    addresses = data.get("email_addresses") or []
    primary = data.get("primary_email_address_id")
    for item in addresses:
        if isinstance(item, dict) and (item.get("id") == primary or primary is None):
            return item.get("email_address")
    return None


@router.post("/clerk/webhook", name="auth.clerk_webhook", response_model=WebhookResultPublic,
             summary="Clerk user webhooks (user.created, user.deleted), svix-signed")
async def clerk_webhook(request: Request, state: StateDep, session: SessionDep) -> dict:
    secret = state.settings.clerk_webhook_secret
    if not secret:
        raise NotFound(f"No such path: {request.url.path}.")
    from svix.webhooks import Webhook, WebhookVerificationError

    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidRequest("The webhook body is too large.")
    try:
        Webhook(secret).verify(body, dict(request.headers))
        event = json.loads(body)
    except (WebhookVerificationError, ValueError):
        raise InvalidRequest("The webhook signature is missing, invalid or too old.") from None
    kind = str(event.get("type", ""))
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    subject = str(data.get("id") or "")
    issuer = state.issuer.issuer if state.issuer else "clerk"
    external_id = f"{issuer}|{subject}"

    def handle() -> dict:
        if kind == "user.created" and subject:
            name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or None
            user = external.subject_user(session, external_id, _primary_email(data), name)
            return {"received": True, "event": kind, "user_id": user.id, "deleted_jobs": 0}
        if kind == "user.deleted" and subject:
            user = session.scalar(select(User).where(User.external_id == external_id))
            removed = users.delete_user(session, state.storage, user) if user else 0
            return {"received": True, "event": kind, "user_id": user.id if user else None, "deleted_jobs": removed}
        log.info("clerk webhook %s ignored", kind[:64])
        return {"received": True, "event": kind[:64], "user_id": None, "deleted_jobs": 0}

    return await run_in_threadpool(handle)
