"""The operator's billing API (API_KEY): adjust an account's tokens, tokens per account and kind."""

from __future__ import annotations

from pydantic import BaseModel, Field

from burntbeats.api.schemas.billing import LedgerEntryPublic


class AdjustRequest(BaseModel):
    user_id: str | None = Field(None, max_length=64, description="The account (or give its email).")
    email: str | None = Field(None, max_length=320)
    delta: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="Tokens to add (positive) or take (negative).")
    reason: str = Field(min_length=3, max_length=500, description="Why (shown in the account's ledger).")
    idempotency_key: str | None = Field(None, max_length=100, description="Sent again, the same key adds nothing.")


class AdjustedPublic(BaseModel):
    applied: bool = Field(description="False when this idempotency_key was used before (nothing added).")
    entry: LedgerEntryPublic | None
    balance: int


class UsageRowPublic(BaseModel):
    user_id: str
    email: str | None
    plan: str
    balance: int = Field(description="Now.")
    charged: dict[str, int] = Field(description="Job kind -> tokens of jobs that succeeded (reserved in the period).")
    refunded: dict[str, int] = Field(description="Job kind -> tokens given back (failed, cancelled).")
    held: dict[str, int] = Field(description="Job kind -> tokens of jobs still queued or running.")
    jobs: dict[str, int] = Field(description="Job kind -> jobs charged.")
    granted: int
    purchased: int
    adjusted: int


class BillingUsagePublic(BaseModel):
    since: str | None
    users: list[UsageRowPublic] = Field(description="Most charged first.")
    totals: dict[str, int] = Field(description="Job kind -> tokens charged, every account.")
