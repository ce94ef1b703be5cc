"""POST /api/billing/webhook: Stripe's events (open: Stripe signs them; billing/webhooks.py checks and applies)."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from burntbeats.api.deps import SessionDep, StateDep
from burntbeats.api.schemas.billing import WebhookAnswerPublic
from burntbeats.billing import webhooks

router = APIRouter(prefix="/api/billing", tags=["billing"])


@router.post("/webhook", name="billing.webhook", response_model=WebhookAnswerPublic,
             summary="Stripe webhook: checkout, subscriptions, invoices (verified with STRIPE_WEBHOOK_SECRET)")
async def webhook(
    request: Request,
    state: StateDep,
    session: SessionDep,
    stripe_signature: str | None = Header(None, description="Stripe's signature of the body."),
) -> dict:
    event = webhooks.verify(state.settings, await request.body(), stripe_signature)
    outcome = await run_in_threadpool(webhooks.handle, session, state.settings, event)
    return {"received": True, "event_id": outcome.event_id, "type": outcome.type, "duplicate": outcome.duplicate,
            "handled": outcome.handled, "detail": outcome.detail}
