"""External identity (OIDC / Clerk): bearer JWTs verified against the issuer's JWKS, and Clerk's user webhooks.

A token is accepted only if its signature verifies with a key of the issuer's JWKS under an algorithm of
OIDC_ALGORITHMS (asymmetric ones only: `none` and HMAC are never accepted, so a token "signed" with the
public key as an HMAC secret is refused), and its `iss`, `aud` (when OIDC_AUDIENCE is set), `exp` and `nbf`
hold, with OIDC_LEEWAY_S of clock skew. The JWKS is cached for OIDC_JWKS_CACHE_S and fetched again when a
token names a key id it lacks (key rotation), at most once per OIDC_JWKS_COOLDOWN_S. The token's `sub` maps
to a user created on first sight.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import jwt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from burntbeats.accounts.users import by_email, new_user_id
from burntbeats.models import User, utcnow
from burntbeats.settings import Settings, parse_list

log = logging.getLogger(__name__)

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
JWKS_TIMEOUT_S = 5.0


class InvalidToken(Exception):
    """The bearer JWT is not one this server accepts; the message says why (safe to show)."""


@dataclass(frozen=True)
class Issuer:
    issuer: str
    jwks_url: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    leeway_s: float
    cache_s: int
    cooldown_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Issuer | None:
        if not settings.oidc_issuer:
            return None
        algorithms = tuple(parse_list(settings.oidc_algorithms))
        refused = sorted(set(algorithms) - ASYMMETRIC)
        if refused or not algorithms:
            raise ValueError(f"OIDC_ALGORITHMS may list only {', '.join(sorted(ASYMMETRIC))} (got {refused}).")
        jwks = settings.oidc_jwks_url or settings.oidc_issuer.rstrip("/") + "/.well-known/jwks.json"
        return cls(settings.oidc_issuer, jwks, tuple(parse_list(settings.oidc_audience)), algorithms,
                   settings.oidc_leeway_s, settings.oidc_jwks_cache_s, settings.oidc_jwks_cooldown_s)

    def subject_id(self, sub: str) -> str:
        return f"{self.issuer}|{sub}"


_clients: dict[Issuer, jwt.PyJWKClient] = {}
_lock = threading.Lock()


def _client(issuer: Issuer) -> jwt.PyJWKClient:
    with _lock:
        client = _clients.get(issuer)
        if client is None:
            # The key set is cached for `cache_s`; an unknown `kid` fetches it again (rotation), at most once
            # per `cooldown_s` (a flood of made-up key ids cannot hammer the issuer).
            client = _clients[issuer] = jwt.PyJWKClient(issuer.jwks_url, cache_keys=False, cache_jwk_set=True,
                                                        lifespan=issuer.cache_s, timeout=JWKS_TIMEOUT_S,
                                                        cooldown_duration=issuer.cooldown_s)
        return client


def verify(issuer: Issuer, token: str) -> dict:
    """The token's claims if it is valid; InvalidToken with the reason otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("The bearer token is neither an API key of this server nor a JWT.") from None
    if header.get("alg") not in issuer.algorithms:
        raise InvalidToken(f"The token's algorithm {str(header.get('alg'))[:20]!r} is not accepted "
                           f"(OIDC_ALGORITHMS: {', '.join(issuer.algorithms)}).")
    try:
        key = _client(issuer).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        log.warning("JWKS of %s unreachable: %s", issuer.issuer, exc)
        raise InvalidToken("The identity provider's keys could not be fetched; try again shortly.") from None
    except jwt.PyJWTError:
        raise InvalidToken("The token is signed with a key the identity provider does not publish.") from None
    required = ["exp", "iss", "sub"] + (["aud"] if issuer.audiences else [])
    try:
        return jwt.decode(token, key.key, algorithms=list(issuer.algorithms), issuer=issuer.issuer,
                          audience=list(issuer.audiences) or None, leeway=issuer.leeway_s,
                          options={"require": required, "verify_aud": bool(issuer.audiences)})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired; sign in again.") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("The token is not valid yet (nbf / iat in the future).") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The token is for another audience (aud).") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("The token is from another issuer (iss).") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"The token is invalid: {type(exc).__name__}.") from None


def subject_user(session: Session, external_id: str, email: str | None = None,
                 display_name: str | None = None) -> User:
    """The user of an external identity, created on first sight (an email another account holds is not copied)."""
    user = session.scalar(select(User).where(User.external_id == external_id))
    if user is not None:
        return user
    email = (email or "").strip().lower() or None
    if email and by_email(session, email) is not None:
        email = None
    user = User(id=new_user_id(), external_id=external_id, email=email,
                display_name=(display_name or "")[:200] or None, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:  # created by a concurrent request
        user = session.scalar(select(User).where(User.external_id == external_id))
    return user
