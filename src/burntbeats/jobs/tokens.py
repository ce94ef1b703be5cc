"""Per-job signed tokens: whoever holds a job's token may read it; nobody can forge one."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, purpose: str, object_id: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{object_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def verify(secret: str, purpose: str, object_id: str, token: object) -> bool:
    """True only for the right token. Anything else (None, a number from JSON, non-ASCII text) is just wrong."""
    if not isinstance(token, str) or not token:
        return False
    # compare_digest refuses non-ASCII str; as UTF-8 bytes any text compares (and never matches).
    return hmac.compare_digest(sign(secret, purpose, object_id).encode(), token.encode("utf-8", "surrogateescape"))
