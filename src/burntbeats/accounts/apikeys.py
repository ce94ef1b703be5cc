"""Personal API keys for scripts: `bbk_<id>_<secret>`, shown once at creation, stored as the secret's SHA-256,
revocable, with the time each was last used. Sent as `Authorization: Bearer <key>`."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from burntbeats.accounts.users import sha256
from burntbeats.errors import InvalidRequest, NotFound
from burntbeats.models import ApiKey, User, as_utc, utcnow

PREFIX = "bbk_"
MAX_KEYS_PER_USER = 50
# last_used_at is written at most this often per key (not on every request).
LAST_USED_RESOLUTION = timedelta(seconds=60)


def looks_like_key(text: str) -> bool:
    return text.startswith(PREFIX)


def create_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the full key (the only time it exists in clear)."""
    name = (name or "").strip()[:100]
    if not name:
        raise InvalidRequest("Name the key (e.g. the script or machine that will use it).")
    if len(list_keys(session, user.id)) >= MAX_KEYS_PER_USER:
        raise InvalidRequest(f"An account holds at most {MAX_KEYS_PER_USER} active keys; revoke one first.")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(id=key_id, user_id=user.id, name=name, secret_hash=sha256(secret), created_at=utcnow())
    session.add(row)
    session.flush()
    return row, f"{PREFIX}{key_id}_{secret}"


def list_keys(session: Session, user_id: str) -> list[ApiKey]:
    return list(session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at)
    ))


def revoke_key(session: Session, user_id: str, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id) if isinstance(key_id, str) and len(key_id) <= 32 else None
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise NotFound(f"No such API key: {key_id}.")
    row.revoked_at = utcnow()
    session.flush()
    return row


def key_user(session: Session, key: str) -> User | None:
    """The user a key belongs to (None if malformed, unknown or revoked); notes when it was used."""
    body = key[len(PREFIX):] if looks_like_key(key) else ""
    key_id, _, secret = body.partition("_")
    if not key_id or not secret or len(key) > 200:
        return None
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, sha256(secret)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return session.get(User, row.user_id)
