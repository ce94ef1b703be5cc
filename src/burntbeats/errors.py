"""Domain errors: what went wrong, in a sentence for the user. The API maps each to an HTTP status in one
place (burntbeats.api.errors); the service layer raises these instead of HTTP exceptions."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal whose message is safe and useful to show to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DomainError):
    """The request names something impossible (a parameter out of range, a stem the job lacks)."""


class NotFound(DomainError):
    """No such job, file or batch."""


class Unauthorized(DomainError):
    """No signed-in user where one is needed (AUTH_REQUIRED), or credentials that name no one."""


class Forbidden(DomainError):
    """A missing or wrong token, or a feature switched off."""


class NeedsHigherPlan(Forbidden):
    """The request is outside the caller's plan (stems, quality, duration, jobs at once): 403, naming the limit."""


class PaymentRequired(DomainError):
    """Not enough usage tokens for the job (USAGE_TOKENS_ENABLED): 402, saying what it costs and how to get more."""


class Conflict(DomainError):
    """The job is not in a state that allows this (not finished, already cancelled...)."""


class Gone(DomainError):
    """The files existed but were removed (retention) or expired."""


class RateLimited(DomainError):
    """A rate limit was reached: retry after `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(DomainError):
    """Too much work is waiting: retry after `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(Overloaded):
    """A service the request needs (the job queue's broker) cannot be reached now: 503 + Retry-After."""
