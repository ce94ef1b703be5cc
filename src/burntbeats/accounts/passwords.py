"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile), and the rules a password meets."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from burntbeats.errors import InvalidRequest

MIN_LENGTH = 8
MAX_LENGTH = 1024
HASHER = PasswordHasher()


def check_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidRequest(f"Choose a password of at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise InvalidRequest(f"A password has at most {MAX_LENGTH} characters.")


def hash_password(password: str) -> str:
    check_rules(password)
    return HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    return HASHER.hash("no account has this password")


def verify(password_hash: str | None, password: str) -> bool:
    """True if `password` matches. Without a hash (no such account) the same work is done on a dummy hash,
    so the time taken does not tell whether the account exists."""
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)
