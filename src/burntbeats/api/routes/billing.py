"""The caller's billing: what a job would cost (quote), the balance, the ledger, Stripe checkout, portal and plan
changes (the webhook is in billing_webhook.py: Stripe is not a signed-in caller)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from burntbeats.api.common import iso_time
from burntbeats.api.deps import SessionDep, StateDep, UserIdDep
from burntbeats.api.errors import status_of
from burntbeats.api.routes.plans import plan_public
from burntbeats.api.schemas.billing import (
    BalancePublic,
    CheckoutPublic,
    CheckoutRequest,
    LedgerPagePublic,
    PlanChangePublic,
    PlanChangeRequest,
    PortalPublic,
    QuotePublic,
)
from burntbeats.billing import ledger, meter, stripe_gateway
from burntbeats.billing.limits import option_refusals
from burntbeats.billing.plans import ALL_QUALITIES, get_pack, get_plan
from burntbeats.errors import InvalidRequest
from burntbeats.jobs.kinds import JobKind
from burntbeats.models import User
from burntbeats.separation.base import STEM_LAYOUTS

router = APIRouter(prefix="/api/billing", tags=["billing"])
QUALITY_HELP = "fast | balanced | best: a split's quality, a speech clean-up's engine mode."


@router.get("/quote", name="billing.quote", response_model=QuotePublic,
            summary="What a job would cost you and whether it would be accepted now (nothing is queued)")
async def quote(
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    kind: JobKind = Query(..., description="The job kind, e.g. stems.split."),
    duration_s: float | None = Query(None, ge=0, le=10 * 24 * 3600, description="The input's length in seconds."),
    stems: int | None = Query(None, description="A split's stem count: 2, 4 or 6."),
    quality: str | None = Query(None, description=QUALITY_HELP),
    count: int = Query(1, ge=1, le=100, description="How many such jobs (a MIDI batch's items)."),
) -> dict:
    params: dict = {}
    if stems is not None:
        if stems not in STEM_LAYOUTS:
            raise InvalidRequest(f"stems must be one of {', '.join(map(str, STEM_LAYOUTS))} (got {stems}).")
        params["stems"] = stems
    if quality is not None:
        if quality not in ("fast", "balanced", "best"):
            raise InvalidRequest(f"quality must be fast, balanced or best (got {quality!r}).")
        params["engine" if kind == JobKind.SPEECH_ENHANCE else "quality"] = quality
    if duration_s is not None:
        params["input"] = {"duration_s": duration_s}

    def decide() -> meter.Decision:
        _account, plan = meter.current(session, state.settings, user_id)
        return meter.evaluate(session, state.settings, kind, user_id, [params] * count, plan)

    decision = await run_in_threadpool(decide)
    metering = state.settings.usage_tokens_enabled
    refusal = decision.refusal if metering else None
    return {"metering": metering, "kind": kind.value, "count": count, "cost_tokens": decision.total,
            "each_tokens": decision.costs[0].tokens, "description": decision.costs[0].description,
            "plan": decision.plan.id, "balance": decision.balance, "allowed": refusal is None,
            "refusal_status": status_of(refusal) if refusal else None,
            "refusal": refusal.message if refusal else None}


@router.get("/balance", name="billing.balance", response_model=BalancePublic,
            summary="Your plan, tokens available and tokens held by running jobs")
def balance(state: StateDep, session: SessionDep, user_id: UserIdDep) -> dict:
    settings = state.settings
    account, plan = meter.current(session, settings, user_id)  # the month's free tokens show before the first job
    refusals = option_refusals(plan, tuple(STEM_LAYOUTS), ALL_QUALITIES) if settings.usage_tokens_enabled else None
    return {"metering": settings.usage_tokens_enabled, "plan": plan_public(plan, settings),
            "balance": ledger.balance(session, user_id), "held": ledger.held(session, user_id),
            "subscription_status": account.subscription_status if account else None,
            "current_period_end": iso_time(account.current_period_end) if account else None,
            "has_billing_account": bool(account and account.stripe_customer_id),
            "option_refusals": refusals or {"stems": {}, "qualities": {}}}


@router.get("/ledger", name="billing.ledger", response_model=LedgerPagePublic,
            summary="Your token ledger, newest first, a page at a time")
def ledger_page(
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    limit: int = Query(50, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**62, description="next_before of the previous page."),
) -> dict:
    if before is None:
        meter.current(session, state.settings, user_id)  # as the balance: the month's free tokens first
    page = ledger.page(session, user_id, limit, before)
    return {"entries": [{"id": e.id, "created_at": iso_time(e.created_at), "entry": e.entry, "delta": e.delta,
                         "balance_after": after, "job_id": e.job_id, "kind": e.kind, "reason": e.reason}
                        for e, after in page.entries],
            "next_before": page.next_before}


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.post("/checkout", name="billing.checkout", response_model=CheckoutPublic,
             summary="Start a Stripe Checkout for a plan (subscription) or a token pack (one payment)")
def checkout(body: CheckoutRequest, request: Request, state: StateDep, session: SessionDep, user_id: UserIdDep) -> dict:
    if (body.plan is None) == (body.pack is None):
        raise InvalidRequest("Name either a plan (pro, studio) or a pack (small, large).")
    if body.plan is not None:
        item = get_plan(body.plan, state.settings)
        if item.id != body.plan or item.price_setting is None:
            raise InvalidRequest(f"No paid plan is called {body.plan!r}: choose pro or studio.")
    else:
        item = get_pack(body.pack or "")
        if item is None:
            raise InvalidRequest(f"No pack is called {body.pack!r}: choose small or large.")
    started = stripe_gateway.start_checkout(session, state.settings, session.get(User, user_id), item,
                                            _base_url(request))
    return {"url": started.url, "session_id": started.session_id}


@router.post("/portal", name="billing.portal", response_model=PortalPublic,
             summary="A link to Stripe's customer portal (invoices, payment method, cancel)")
def portal(request: Request, state: StateDep, session: SessionDep, user_id: UserIdDep) -> dict:
    return {"url": stripe_gateway.portal_url(session, state.settings, user_id, _base_url(request))}


@router.post("/plan", name="billing.plan", response_model=PlanChangePublic,
             summary="Change the plan of your subscription (prorated), or end it (free)")
def change_plan(body: PlanChangeRequest, state: StateDep, session: SessionDep, user_id: UserIdDep) -> dict:
    return {"plan": body.plan, "detail": stripe_gateway.change_plan(session, state.settings, user_id, body.plan)}
