"""Rate limits with the `limits` library: in memory, or in Redis when REDIS_URL is set (shared by every API
process). A refusal is RateLimited -> 429 + Retry-After + a sentence.

Rules (settings, `limits` notation such as "10/minute"; empty = no limit):
- RATE_LIMIT_SIGN_IN: sign-in attempts per client address; RATE_LIMIT_SIGN_IN_FAILURES: failed sign-ins per
  email (known or not, so the answer never tells whether an account exists); RATE_LIMIT_SIGN_UP: sign-ups
  per address.
- RATE_LIMIT_SUBMIT / RATE_LIMIT_SUBMIT_IP: jobs submitted per user / per address (checked in
  jobs/admission.py admit(), so every submission path has them), when AUTH_REQUIRED is set.

The client's address is request.client (behind a proxy: run uvicorn with --proxy-headers and
--forwarded-allow-ips). If Redis cannot be reached, the limit is skipped (logged): the API keeps answering.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextvars import ContextVar

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from burntbeats.errors import RateLimited
from burntbeats.settings import Settings

log = logging.getLogger(__name__)

# The address of the request being served (set by the API's caller dependency, read by admit()).
CLIENT_IP: ContextVar[str | None] = ContextVar("burntbeats_client_ip", default=None)

_lock = threading.Lock()
_limiters: dict[str, MovingWindowRateLimiter] = {}


def _limiter(settings: Settings) -> MovingWindowRateLimiter:
    uri = settings.redis_url or "memory://"
    with _lock:
        limiter = _limiters.get(uri)
        if limiter is None:
            limiter = _limiters[uri] = MovingWindowRateLimiter(storage_from_string(uri))
        return limiter


def _namespace(settings: Settings) -> str:
    # One process's memory may hold several apps (tests); one Redis is shared by every process of an install.
    return "burntbeats" if settings.redis_url else f"burntbeats:{settings.data_dir.resolve()}"


def _rule(text: str) -> RateLimitItem | None:
    return parse(text) if text and text.strip() else None


def _retry_after(limiter: MovingWindowRateLimiter, item: RateLimitItem, keys: tuple[str, ...]) -> int:
    reset = limiter.get_window_stats(item, *keys).reset_time
    return max(1, math.ceil(reset - time.time()))


def hit(settings: Settings, rule: str, what: str, *keys: str, cost: int = 1) -> None:
    """Count `cost` against `rule` for `keys`; RateLimited ("Too many <what>...") when it is used up."""
    item = _rule(rule)
    if item is None:
        return
    limiter = _limiter(settings)
    scoped = (_namespace(settings), *keys)
    try:
        if limiter.hit(item, *scoped, cost=cost):
            return
        retry = _retry_after(limiter, item, scoped)
    except Exception as exc:  # noqa: BLE001 - a rate-limit store that is down must not take the API with it
        log.warning("rate limit %s not applied: %s", keys[0] if keys else rule, exc)
        return
    raise RateLimited(f"Too many {what} (at most {item.amount} per {_per(item)}). Try again in {retry} "
                      f"seconds.", retry_after_s=retry)


def exhausted(settings: Settings, rule: str, *keys: str) -> int | None:
    """Seconds until `rule` allows another hit for `keys`, or None if it allows one now (nothing is counted)."""
    item = _rule(rule)
    if item is None:
        return None
    limiter = _limiter(settings)
    scoped = (_namespace(settings), *keys)
    try:
        return None if limiter.test(item, *scoped) else _retry_after(limiter, item, scoped)
    except Exception as exc:  # noqa: BLE001 - see hit()
        log.warning("rate limit %s not checked: %s", keys[0] if keys else rule, exc)
        return None


def _per(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def check_submit(settings: Settings, owner_id: str, count: int) -> None:
    """The submission limits (per user, per address) for `count` more jobs; only when AUTH_REQUIRED is set."""
    if not settings.auth_required:
        return
    hit(settings, settings.rate_limit_submit, "jobs submitted by this account", "submit-user", owner_id, cost=count)
    ip = CLIENT_IP.get()
    if ip:
        hit(settings, settings.rate_limit_submit_ip, "jobs submitted from this address", "submit-ip", ip, cost=count)
