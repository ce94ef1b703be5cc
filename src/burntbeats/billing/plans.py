"""The plans and token packs, in one table (GET /api/plans reads it; the pricing page shows it).

A plan says what an account may ask for (stem counts, quality modes, the longest file, jobs queued or running
at once), how many tokens it is granted each month and how long its files are kept. Prices are what the
pricing page shows; what Stripe charges is the Stripe price named by the plan's STRIPE_PRICE_ID_* setting
(set them to match). A pack is a one-off purchase of tokens (pay as you go); tokens never expire.
"""

from __future__ import annotations

from dataclasses import dataclass

from burntbeats.settings import Settings


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    monthly_price_usd: float
    monthly_tokens: int
    stems: tuple[int, ...]
    qualities: tuple[str, ...]
    max_duration_s: float
    concurrent_jobs: int
    retention_hours: float
    price_setting: str | None  # the Settings field with its Stripe price id (None: free, nothing to buy)
    blurb: str

    def stripe_price_id(self, settings: Settings) -> str:
        return str(getattr(settings, self.price_setting, "") or "") if self.price_setting else ""


@dataclass(frozen=True)
class Pack:
    id: str
    name: str
    tokens: int
    price_usd: float
    price_setting: str

    def stripe_price_id(self, settings: Settings) -> str:
        return str(getattr(settings, self.price_setting, "") or "")


ALL_QUALITIES = ("fast", "balanced", "best")

# Cheapest first: "upgrade to" names the first plan above that allows a request.
PLANS: tuple[Plan, ...] = (
    Plan("free", "Free", 0.0, 100, (2, 4), ("fast", "balanced"), 10 * 60, 3, 24, None,
         "Try it: 2 or 4 stems, fast and balanced quality, files up to 10 minutes."),
    Plan("pro", "Pro", 9.0, 1000, (2, 4, 6), ALL_QUALITIES, 30 * 60, 10, 7 * 24, "stripe_price_id_pro",
         "For musicians: 6 stems, best quality, files up to 30 minutes, kept a week."),
    Plan("studio", "Studio", 29.0, 5000, (2, 4, 6), ALL_QUALITIES, 120 * 60, 25, 30 * 24, "stripe_price_id_studio",
         "For studios: files up to 2 hours, 25 jobs at once, kept a month."),
)
PACKS: tuple[Pack, ...] = (
    Pack("small", "500 tokens", 500, 5.0, "stripe_price_id_pack_small"),
    Pack("large", "3000 tokens", 3000, 25.0, "stripe_price_id_pack_large"),
)
_BY_ID = {plan.id: plan for plan in PLANS}
_PACKS_BY_ID = {pack.id: pack for pack in PACKS}


def get_plan(plan_id: str | None, settings: Settings | None = None) -> Plan:
    """The plan with this id; an unknown or empty id is the default plan (DEFAULT_PLAN, else free)."""
    if plan_id in _BY_ID:
        return _BY_ID[plan_id]
    fallback = settings.default_plan if settings is not None else "free"
    return _BY_ID.get(fallback, PLANS[0])


def get_pack(pack_id: str) -> Pack | None:
    return _PACKS_BY_ID.get(pack_id)


def plan_for_price(settings: Settings, price_id: str | None) -> Plan | None:
    """The plan whose STRIPE_PRICE_ID_* is `price_id` (a subscription's price), if any."""
    if not price_id:
        return None
    return next((p for p in PLANS if p.price_setting and p.stripe_price_id(settings) == price_id), None)


def pack_for_price(settings: Settings, price_id: str | None) -> Pack | None:
    if not price_id:
        return None
    return next((p for p in PACKS if p.stripe_price_id(settings) == price_id), None)


def plans_above(plan: Plan) -> tuple[Plan, ...]:
    return PLANS[PLANS.index(plan) + 1:] if plan in PLANS else PLANS


def minutes_label(seconds: float) -> str:
    """90 -> '1:30', 3600 -> '60:00' (minutes:seconds, as players show a length)."""
    total = int(round(seconds))
    return f"{total // 60}:{total % 60:02d}"
