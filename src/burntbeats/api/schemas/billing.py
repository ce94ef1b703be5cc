"""Plans, quotes, balance and ledger (burntbeats.billing; README "Plans and billing")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PlanPublic(BaseModel):
    id: str = Field(description="free | pro | studio")
    name: str
    blurb: str
    monthly_price_usd: float = Field(description="What the pricing page shows; Stripe charges its price.")
    monthly_tokens: int = Field(description="Tokens granted each month (unused tokens roll over).")
    stems: list[int] = Field(description="Stem counts this plan may ask for.")
    qualities: list[str] = Field(description="Quality modes this plan may ask for.")
    max_duration_s: float = Field(description="The longest file (seconds) a job of this plan may take.")
    concurrent_jobs: int = Field(description="Jobs queued or running at once.")
    retention_hours: float = Field(description="How long finished jobs' files are kept.")
    purchasable: bool = Field(description="Stripe is configured (STRIPE_SECRET_KEY) and so is this plan's price "
                              "(STRIPE_PRICE_ID_*): it can be bought here.")


class PackPublic(BaseModel):
    id: str
    name: str
    tokens: int
    price_usd: float
    purchasable: bool


class CostTablePublic(BaseModel):
    """What a job costs (burntbeats.billing.costs), from the server's settings."""

    stems_per_minute: float = Field(description="STEMS_TOKEN_COST_PER_MINUTE: 2 stems, balanced.")
    speech_per_minute: float = Field(description="SPEECH_TOKEN_COST_PER_MINUTE: balanced.")
    midi_per_file: int = Field(description="MIDI_TOKEN_COST: one transcription.")
    stems_export: int = Field(description="STEMS_EXPORT_TOKEN_COST: one server-side mix.")
    midi_export: int = Field(description="MIDI_EXPORT_TOKEN_COST: one ZIP of MIDI files.")
    stems_factors: dict[str, float] = Field(description="Stem count -> factor (STEMS_TOKEN_FACTORS).")
    quality_factors: dict[str, float] = Field(description="Quality mode -> factor (QUALITY_TOKEN_FACTORS).")


class PlansPublic(BaseModel):
    usage_tokens_enabled: bool = Field(description="USAGE_TOKENS_ENABLED: jobs cost tokens and plan limits apply.")
    default_plan: str = Field(description="The plan of an account without a subscription.")
    plans: list[PlanPublic]
    packs: list[PackPublic]
    costs: CostTablePublic


class QuotePublic(BaseModel):
    """What a job would cost the caller, and whether it would be accepted now (nothing is queued)."""

    metering: bool = Field(description="USAGE_TOKENS_ENABLED; when false nothing is charged or limited.")
    kind: str
    count: int = Field(description="How many such jobs (a MIDI batch's items).")
    cost_tokens: int = Field(description="Total for `count` jobs.")
    each_tokens: int
    description: str = Field(description="How the cost is made, e.g. 'a 4-stem balanced split of 3:30: ...'.")
    plan: str = Field(description="The caller's plan id.")
    balance: int | None = Field(description="Tokens available now (null when metering is off).")
    allowed: bool = Field(description="Whether the submission would be accepted now.")
    refusal_status: Literal[402, 403] | None = Field(
        description="402: not enough tokens; 403: outside the plan; null when allowed.")
    refusal: str | None = Field(description="The sentence the submission would be refused with.")


class OptionRefusalsPublic(BaseModel):
    """What the caller's plan does not allow, each with the sentence a submission asking for it would get (403)."""

    stems: dict[str, str] = Field(description="Stem count -> sentence.")
    qualities: dict[str, str] = Field(description="Quality mode -> sentence.")


class BalancePublic(BaseModel):
    """The caller's plan and tokens."""

    metering: bool = Field(description="USAGE_TOKENS_ENABLED; when false jobs cost nothing.")
    plan: PlanPublic
    balance: int = Field(description="Tokens available for new jobs (the ledger's sum).")
    held: int = Field(description="Tokens reserved by queued and running jobs (already out of `balance`; back if "
                      "a job fails or is cancelled).")
    subscription_status: str | None = Field(description="Stripe's status of the plan's subscription, if any.")
    current_period_end: str | None = Field(description="When the paid period ends (the next monthly grant).")
    has_billing_account: bool = Field(description="A Stripe customer exists (the billing portal can be opened).")
    option_refusals: OptionRefusalsPublic = Field(description="Empty when metering is off.")


LedgerEntryKind = Literal["grant", "purchase", "reserve", "settle", "refund", "adjust"]


class LedgerEntryPublic(BaseModel):
    id: int
    created_at: str | None
    entry: LedgerEntryKind = Field(description="grant (monthly), purchase (pack), reserve (a job's cost at "
                                   "submission), settle (the job succeeded), refund (it failed or was cancelled), "
                                   "adjust (an operator's change).")
    delta: int = Field(description="Tokens added (positive) or taken (negative).")
    balance_after: int
    job_id: str | None
    kind: str | None
    reason: str | None


class LedgerPagePublic(BaseModel):
    entries: list[LedgerEntryPublic] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null on the last.")


class CheckoutRequest(BaseModel):
    """What to buy: a plan (a monthly subscription) or a token pack, one of them."""

    plan: str | None = Field(None, max_length=32, description="pro | studio")
    pack: str | None = Field(None, max_length=32, description="small | large")


class CheckoutPublic(BaseModel):
    url: str = Field(description="Stripe Checkout: send the browser here.")
    session_id: str


class PortalPublic(BaseModel):
    url: str = Field(description="Stripe's customer portal for this account (invoices, card, cancel).")


class PlanChangeRequest(BaseModel):
    plan: str = Field(max_length=32, description="free (ends the subscription at the period's end) | pro | studio")


class PlanChangePublic(BaseModel):
    plan: str = Field(description="The plan asked for.")
    detail: str = Field(description="What happens now, in a sentence.")


class WebhookAnswerPublic(BaseModel):
    received: bool
    event_id: str
    type: str
    duplicate: bool = Field(description="This event id was handled before: nothing changed.")
    handled: bool = Field(description="False for an event type this server does not act on (ignored, logged).")
    detail: str
