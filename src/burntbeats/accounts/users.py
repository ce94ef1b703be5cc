"""Local accounts and sign-in sessions: create, find, authenticate, reset a password, disable, sign in / out.

Sessions are random tokens held by the browser's cookie; the database keeps only their SHA-256, so a leaked
database holds no usable session. Signing out, disabling the user or resetting the password ends them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from burntbeats.accounts import passwords
from burntbeats.errors import Conflict, InvalidRequest, NotFound
from burntbeats.models import ApiKey, AuthSession, Job, User, as_utc, utcnow
from burntbeats.storage import Storage

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
WRONG_CREDENTIALS = "Wrong email or password."


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def normalize_email(email: str) -> str:
    value = (email or "").strip().lower()
    if not _EMAIL.match(value):
        raise InvalidRequest("Give a valid email address (name@example.com).")
    return value


def new_user_id() -> str:
    return "u_" + secrets.token_hex(12)


def by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def require_by_email(session: Session, email: str) -> User:
    user = by_email(session, normalize_email(email))
    if user is None:
        raise NotFound(f"No account has the email {email!r}.")
    return user


def create_user(session: Session, email: str, password: str, display_name: str | None = None,
                is_admin: bool = False) -> User:
    """A local account (Conflict if the email is taken)."""
    email = normalize_email(email)
    password_hash = passwords.hash_password(password)
    if by_email(session, email) is not None:
        raise Conflict("An account with this email already exists; sign in instead.")
    user = User(id=new_user_id(), email=email, display_name=(display_name or "").strip()[:200] or None,
                password_hash=password_hash, is_admin=is_admin, created_at=utcnow())
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # the same email created at the same moment
        session.rollback()
        raise Conflict("An account with this email already exists; sign in instead.") from None
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The account if the password is right and it is enabled; None otherwise, after the same work either way."""
    try:
        email = normalize_email(email)
    except InvalidRequest:
        email = ""
    user = by_email(session, email) if email else None
    ok = passwords.verify(user.password_hash if user else None, password or "")
    if not ok or user is None or user.disabled_at is not None:
        return None
    if passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = passwords.hash_password(password)
    user.last_sign_in_at = utcnow()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = passwords.hash_password(password)
    end_all_sessions(session, user.id)


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    user.disabled_at = utcnow() if disabled else None
    if disabled:
        end_all_sessions(session, user.id)


def list_users(session: Session, limit: int = 1000) -> list[User]:
    return list(session.scalars(select(User).order_by(User.created_at).limit(limit)))


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


# --- sessions ------------------------------------------------------------------------------------------------

def start_session(session: Session, user: User, ttl_hours: float) -> str:
    """A new sign-in for `user`: returns the token for the cookie (expired sessions are swept here)."""
    now = utcnow()
    session.execute(delete(AuthSession).where(AuthSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(AuthSession(token_hash=sha256(token), user_id=user.id, created_at=now,
                            expires_at=now + timedelta(hours=ttl_hours)))
    session.flush()
    return token


def session_user(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The user signed in with this session token (None if unknown or expired)."""
    if not token or len(token) > 200:
        return None
    row = session.get(AuthSession, sha256(token))
    if row is None or as_utc(row.expires_at) < (now or utcnow()):
        return None
    return session.get(User, row.user_id)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == sha256(token)))


def end_all_sessions(session: Session, user_id: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


def delete_user(session: Session, storage: Storage, user: User) -> int:
    """Remove the user with every job and file of theirs (a running job is cancelled first); returns the
    number of jobs removed. Sessions and API keys go with the user."""
    from burntbeats.jobs import service

    jobs = list(session.scalars(select(Job).where(Job.owner_id == user.id)))
    for job in jobs:
        service.cancel_job(session, job)
        storage.delete(job.id)
        session.delete(job)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
    session.delete(user)
    session.flush()
    return len(jobs)
