"""Per-job signed tokens: whoever holds a job's token may read it; nobody can forge one."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, purpose: str, object_id: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{object_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def verify(secret: str, purpose: str, object_id: str, token: str | None) -> bool:
    if not token:
        return False
    return hmac.compare_digest(sign(secret, purpose, object_id), token)
