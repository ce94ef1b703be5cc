"""Stripe webhooks: verify with stripe-python, handle each event once, change plans and tokens.

The signature is checked by `stripe.Webhook.construct_event` with STRIPE_WEBHOOK_SECRET (a forged or stale one is
refused). Each event is handled once: its id goes into `stripe_events` (primary key) with INSERT ... ON CONFLICT DO
NOTHING in the same transaction as its effects, so a replay (or two deliveries at once) changes nothing more.
Token credits carry their own unique ledger ref too (the checkout session, the invoice).

- checkout.session.completed: a paid pack -> its tokens (purchase); a subscription -> the plan, the Stripe ids.
- customer.subscription.created / updated: the plan of its price while active (else the default plan).
- customer.subscription.deleted: back to the default plan.
- invoice.paid: the plan's monthly tokens (a new subscription's first invoice and each renewal).
- anything else: answered 200, ignored and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.orm import Session

from burntbeats.billing import ledger
from burntbeats.billing.models import BillingAccount, StripeEvent
from burntbeats.billing.plans import get_pack, get_plan, pack_for_price, plan_for_price
from burntbeats.billing.stripe_gateway import ACTIVE
from burntbeats.errors import DomainError, InvalidRequest, NotFound
from burntbeats.models import User, utcnow
from burntbeats.settings import Settings

log = logging.getLogger(__name__)

WEBHOOKS_OFF = "Stripe webhooks are off on this server (its operator sets STRIPE_WEBHOOK_SECRET)."
GRANT_REASONS = ("subscription_create", "subscription_cycle")  # invoices that start a paid month


@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    duplicate: bool
    handled: bool
    detail: str


def verify(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if Stripe signed it with our secret within the tolerance; else InvalidRequest (400 here)."""
    if not settings.stripe_webhook_secret:
        raise NotFound(WEBHOOKS_OFF)
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", settings.stripe_webhook_secret,
                                               tolerance=settings.stripe_webhook_tolerance_s)
    except stripe.SignatureVerificationError:
        raise BadSignature("The Stripe-Signature header does not match this payload and secret (or it is too "
                           "old); the event was ignored.") from None
    except ValueError:
        raise BadSignature("The body is not a Stripe event (JSON).") from None
    return event.to_dict()


class BadSignature(DomainError):
    """400 (a DomainError with no status of its own): not signed by Stripe with our secret, or not an event."""


def _get(obj: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and len(obj) > key:
            obj = obj[key]
        else:
            return None
    return obj


def _first_price(obj: dict) -> str | None:
    """The price id of a subscription's first item or an invoice's first line (old and new API shapes)."""
    for path in (("items", "data", 0, "price", "id"), ("lines", "data", 0, "price", "id"),
                 ("lines", "data", 0, "pricing", "price_details", "price"), ("plan", "id")):
        value = _get(obj, *path)
        if isinstance(value, str):
            return value
    return None


def _period_end(obj: dict) -> datetime | None:
    value = _get(obj, "current_period_end") or _get(obj, "items", "data", 0, "current_period_end")
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, (int, float)) else None


def _account(session: Session, customer: str | None, user_id: str | None) -> BillingAccount | None:
    """The account by its Stripe customer, else by the user id we put in the metadata (then remember the customer)."""
    if customer:
        found = session.query(BillingAccount).filter(BillingAccount.stripe_customer_id == customer).one_or_none()
        if found is not None:
            return ledger.lock_account(session, found.user_id)
    if user_id and len(user_id) <= 64 and session.get(User, user_id) is not None:
        account = ledger.lock_account(session, user_id)
        if customer and not account.stripe_customer_id:
            account.stripe_customer_id = customer
        return account
    return None


def _set_subscription(settings: Settings, account: BillingAccount, sub: dict, deleted: bool = False) -> str:
    status = "canceled" if deleted else str(sub.get("status") or "")
    plan = None if deleted else plan_for_price(settings, _first_price(sub))
    if plan is None and not deleted:
        plan = get_plan(_get(sub, "metadata", "plan"), settings) if _get(sub, "metadata", "plan") else None
    account.stripe_subscription_id = None if deleted else sub.get("id")
    account.subscription_status = status
    account.current_period_end = None if deleted else _period_end(sub)
    account.plan = plan.id if plan is not None and status in ACTIVE else None
    account.updated_at = utcnow()
    return f"plan {account.plan or get_plan(None, settings).id} (subscription {status})"


def _checkout_completed(session: Session, settings: Settings, obj: dict) -> str:
    account = _account(session, obj.get("customer"), obj.get("client_reference_id") or _get(obj, "metadata", "user_id"))
    if account is None:
        return "no such account"
    if obj.get("mode") == "subscription":
        plan = get_plan(_get(obj, "metadata", "plan"), settings)
        account.stripe_subscription_id = obj.get("subscription") or account.stripe_subscription_id
        account.subscription_status = "active"
        account.plan = plan.id
        account.updated_at = utcnow()
        return f"plan {plan.id} started"
    if obj.get("payment_status") != "paid":
        return f"payment {obj.get('payment_status')}: nothing credited"
    pack = get_pack(str(_get(obj, "metadata", "pack") or "")) or pack_for_price(settings, _first_price(obj))
    if pack is None:
        return "no pack named"
    ledger.append(session, account.user_id, pack.tokens, ledger.PURCHASE, ref=f"stripe:checkout:{obj.get('id')}",
                  reason=f"Bought the {pack.name} pack.")
    return f"{pack.tokens} tokens credited"


def _invoice_paid(session: Session, settings: Settings, obj: dict) -> str:
    if obj.get("billing_reason") not in GRANT_REASONS:
        return f"invoice for {obj.get('billing_reason')}: no grant"
    account = _account(session, obj.get("customer"), _get(obj, "subscription_details", "metadata", "user_id"))
    if account is None:
        return "no such account"
    plan = plan_for_price(settings, _first_price(obj)) or get_plan(account.plan, settings)
    if plan.price_setting is None:
        return "no paid plan: no grant"
    ledger.append(session, account.user_id, plan.monthly_tokens, ledger.GRANT, ref=f"stripe:invoice:{obj.get('id')}",
                  reason=f"The {plan.name} plan's {plan.monthly_tokens} tokens for the paid month.")
    return f"{plan.monthly_tokens} tokens granted"


def _subscription(session: Session, settings: Settings, obj: dict, deleted: bool) -> str:
    account = _account(session, obj.get("customer"), _get(obj, "metadata", "user_id"))
    if account is None:
        return "no such account"
    if deleted and account.stripe_subscription_id not in (None, obj.get("id")):
        return "an older subscription ended: plan unchanged"
    return _set_subscription(settings, account, obj, deleted)


def handle(session: Session, settings: Settings, event: dict) -> Outcome:
    """Apply a verified event once (in the caller's transaction, committed with the event's row)."""
    event_id, event_type = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id or len(event_id) > 255:
        raise InvalidRequest("The event has no usable id.")
    first = ledger.inserted(session, ledger.insert_for(session, StripeEvent.__table__)
                            .values(id=event_id, type=event_type[:100], received_at=utcnow())
                            .on_conflict_do_nothing(index_elements=["id"])) is not None
    if not first:
        log.info("stripe event %s (%s) already handled", event_id, event_type)
        return Outcome(event_id, event_type, True, True, "already handled")
    obj = _get(event, "data", "object") or {}
    if event_type == "checkout.session.completed":
        detail = _checkout_completed(session, settings, obj)
    elif event_type in ("customer.subscription.created", "customer.subscription.updated"):
        detail = _subscription(session, settings, obj, deleted=False)
    elif event_type == "customer.subscription.deleted":
        detail = _subscription(session, settings, obj, deleted=True)
    elif event_type == "invoice.paid":
        detail = _invoice_paid(session, settings, obj)
    else:
        log.info("stripe event %s of type %s ignored (not handled here)", event_id, event_type)
        session.query(StripeEvent).filter(StripeEvent.id == event_id).update({"outcome": "ignored"})
        return Outcome(event_id, event_type, False, False, "ignored")
    log.info("stripe event %s (%s): %s", event_id, event_type, detail)
    session.query(StripeEvent).filter(StripeEvent.id == event_id).update({"outcome": detail[:500]})
    return Outcome(event_id, event_type, False, True, detail)
