"""Job tokens: whoever holds a job's token (and, with accounts, is its owner) may read it; nobody can forge one.

Two kinds, chosen by settings:
- Default: an HMAC of the job id with SECRET_KEY (never expires; what `sign` / `verify` make).
- JOB_TOKEN_SECRET set: a signed JWT (HS256, PyJWT) bound to the job id, its owner and an expiry. A job token
  lasts JOB_TOKEN_TTL_HOURS; the file links in status answers carry a short-lived file token
  (FILE_TOKEN_TTL_S), usable in `<audio src>` and downloads but on no other route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

import jwt

from burntbeats.errors import Forbidden

JOB = "job"
FILE = "file"
ALGORITHM = "HS256"
INVALID = "Missing or invalid job token for this job."
EXPIRED = "This job token has expired: fetch the job's status again for fresh links (or sign in again)."


def sign(secret: str, purpose: str, object_id: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{object_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def verify(secret: str, purpose: str, object_id: str, token: object) -> bool:
    """True only for the right token. Anything else (None, a number from JSON, non-ASCII text) is just wrong."""
    if not isinstance(token, str) or not token:
        return False
    # compare_digest refuses non-ASCII str; as UTF-8 bytes any text compares (and never matches).
    return hmac.compare_digest(sign(secret, purpose, object_id).encode(), token.encode("utf-8", "surrogateescape"))


class TokenSubject(Protocol):
    """What a token is bound to (a Job row has these)."""

    id: str
    owner_id: str


@dataclass(frozen=True)
class JobTokens:
    """Makes and checks job and file tokens (see the module docstring)."""

    secret: str
    signing_secret: str | None = None  # JOB_TOKEN_SECRET: signed, expiring tokens
    job_ttl_s: float = 24 * 3600
    file_ttl_s: float = 3600

    def job(self, job: TokenSubject) -> str:
        return self._make(job, JOB, self.job_ttl_s)

    def file(self, job: TokenSubject) -> str:
        return self._make(job, FILE, self.file_ttl_s)

    def _make(self, job: TokenSubject, purpose: str, ttl_s: float) -> str:
        if not self.signing_secret:
            return sign(self.secret, JOB, job.id)
        claims = {"jid": job.id, "own": job.owner_id, "pur": purpose, "exp": int(time.time() + ttl_s)}
        return jwt.encode(claims, self.signing_secret, algorithm=ALGORITHM)

    def check(self, job: TokenSubject, token: object, purposes: tuple[str, ...] = (JOB,)) -> None:
        """Return if `token` is valid for `job` and one of `purposes`; else Forbidden with a sentence."""
        if not self.signing_secret:
            if not verify(self.secret, JOB, job.id, token):
                raise Forbidden(INVALID)
            return
        if not isinstance(token, str) or not token or len(token) > 1024:
            raise Forbidden(INVALID)
        try:
            claims = jwt.decode(token, self.signing_secret, algorithms=[ALGORITHM],
                                options={"require": ["exp", "jid", "own", "pur"]})
        except jwt.ExpiredSignatureError:
            raise Forbidden(EXPIRED) from None
        except jwt.PyJWTError:
            raise Forbidden(INVALID) from None
        if claims["jid"] != job.id or claims["own"] != job.owner_id or claims["pur"] not in purposes:
            raise Forbidden(INVALID)
