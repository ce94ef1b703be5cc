"""The plans, packs and costs (open: the pricing page reads it signed out)."""

from __future__ import annotations

from fastapi import APIRouter

from burntbeats.api.deps import StateDep
from burntbeats.api.schemas.billing import PlansPublic
from burntbeats.billing.plans import PACKS, PLANS, Pack, Plan
from burntbeats.settings import Settings

router = APIRouter(prefix="/api/plans", tags=["billing"])


def for_sale(item: Plan | Pack, settings: Settings) -> bool:
    """Stripe is configured (STRIPE_SECRET_KEY) and the item has a price (STRIPE_PRICE_ID_*)."""
    return bool(settings.stripe_secret_key and item.stripe_price_id(settings))


def plan_public(plan: Plan, settings: Settings) -> dict:
    return {"id": plan.id, "name": plan.name, "blurb": plan.blurb, "monthly_price_usd": plan.monthly_price_usd,
            "monthly_tokens": plan.monthly_tokens, "stems": list(plan.stems), "qualities": list(plan.qualities),
            "max_duration_s": plan.max_duration_s, "concurrent_jobs": plan.concurrent_jobs,
            "retention_hours": plan.retention_hours, "purchasable": for_sale(plan, settings)}


@router.get("", name="plans.list", response_model=PlansPublic,
            summary="Plans (limits, monthly tokens, prices), token packs and what each job costs")
def list_plans(state: StateDep) -> dict:
    s = state.settings
    return {
        "usage_tokens_enabled": s.usage_tokens_enabled,
        "default_plan": s.default_plan,
        "plans": [plan_public(p, s) for p in PLANS],
        "packs": [{"id": p.id, "name": p.name, "tokens": p.tokens, "price_usd": p.price_usd,
                   "purchasable": for_sale(p, s)} for p in PACKS],
        "costs": {"stems_per_minute": s.stems_token_cost_per_minute,
                  "speech_per_minute": s.speech_token_cost_per_minute, "midi_per_file": s.midi_token_cost,
                  "stems_export": s.stems_export_token_cost,
                  "midi_export": s.midi_export_token_cost,
                  "stems_factors": {str(k): v for k, v in sorted(s.stems_token_factors.items())},
                  "quality_factors": dict(s.quality_token_factors)},
    }
