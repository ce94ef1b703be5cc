"""Outbound Stripe calls with stripe-python: checkout sessions (a plan's subscription, a token pack), the customer
portal, plan changes of a running subscription. What a payment changes arrives later as a webhook
(billing/webhooks.py); nothing here grants tokens or changes a plan by itself.

STRIPE_SECRET_KEY empty: payments are off (NotFound with a sentence). STRIPE_API_BASE points the client elsewhere
(the tests' local server). A Stripe error or an unreachable Stripe is a 503 with a sentence (ServiceUnavailable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.orm import Session

from burntbeats.billing import ledger
from burntbeats.billing.plans import Pack, Plan, get_plan
from burntbeats.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from burntbeats.models import User, utcnow
from burntbeats.settings import Settings

log = logging.getLogger(__name__)

PAYMENTS_OFF = "Payments are off on this server (its operator sets STRIPE_SECRET_KEY to sell plans and packs)."
STRIPE_DOWN = "The payment provider could not be reached or refused the request; please try again in a minute."
RETRY_AFTER_S = 60
ACTIVE = ("active", "trialing", "past_due")  # a subscription in these states keeps its plan


def client(settings: Settings) -> stripe.StripeClient:
    if not settings.stripe_secret_key:
        raise NotFound(PAYMENTS_OFF)
    bases: dict[str, str] = {"api": settings.stripe_api_base} if settings.stripe_api_base else {}
    return stripe.StripeClient(settings.stripe_secret_key, base_addresses=bases, max_network_retries=1)  # type: ignore[arg-type]


def _call(what: str, fn, *args, **kwargs) -> Any:
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:  # the message may hold account details: logged, never sent
        log.warning("stripe %s failed: %s", what, exc)
        raise ServiceUnavailable(STRIPE_DOWN, retry_after_s=RETRY_AFTER_S) from None


def ensure_customer(session: Session, settings: Settings, user: User) -> str:
    """The account's Stripe customer id, created at Stripe (and kept on billing_accounts) on first need."""
    account = ledger.lock_account(session, user.id)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer = _call("customer", client(settings).v1.customers.create, {
        "email": user.email or "", "metadata": {"user_id": user.id}})
    account.stripe_customer_id = customer.id
    account.updated_at = utcnow()
    session.flush()
    return customer.id


@dataclass(frozen=True)
class Checkout:
    url: str
    session_id: str


def _price(settings: Settings, item: Plan | Pack) -> str:
    client(settings)  # payments off: that sentence first
    price = item.stripe_price_id(settings)
    if not price:
        what = f"{item.name} plan" if isinstance(item, Plan) else f"{item.id} pack ({item.tokens} tokens)"
        raise NotFound(f"The {what} is not for sale here (its operator sets {str(item.price_setting).upper()}).")
    return price


def start_checkout(session: Session, settings: Settings, user: User, item: Plan | Pack, base_url: str) -> Checkout:
    """A Stripe Checkout session: a subscription for a plan, a one-off payment for a pack."""
    price = _price(settings, item)
    account = ledger.find_account(session, user.id)
    is_plan = isinstance(item, Plan)
    if is_plan and account is not None and account.stripe_subscription_id and account.subscription_status in ACTIVE:
        raise Conflict("You already have a subscription: change its plan with POST /api/billing/plan (the account "
                       "page), or manage it in the billing portal.")
    customer = ensure_customer(session, settings, user)
    metadata = {"user_id": user.id, ("plan" if is_plan else "pack"): item.id}
    params: dict[str, Any] = {
        "mode": "subscription" if is_plan else "payment",
        "customer": customer,
        "client_reference_id": user.id,
        "line_items": [{"price": price, "quantity": 1}],
        "metadata": metadata,
        "success_url": f"{base_url}/account?checkout=success",
        "cancel_url": f"{base_url}/pricing?checkout=cancelled",
    }
    if is_plan:
        params["subscription_data"] = {"metadata": metadata}
    created = _call("checkout", client(settings).v1.checkout.sessions.create, params)
    return Checkout(url=created.url, session_id=created.id)


def portal_url(session: Session, settings: Settings, user_id: str, base_url: str) -> str:
    """A Stripe customer-portal link (invoices, payment method, cancel) for the account."""
    client(settings)  # payments off -> 404 first
    account = ledger.find_account(session, user_id)
    if account is None or not account.stripe_customer_id:
        raise Conflict("There is nothing to manage yet: buy a plan or a token pack first (the pricing page).")
    created = _call("portal", client(settings).v1.billing_portal.sessions.create, {
        "customer": account.stripe_customer_id, "return_url": f"{base_url}/account"})
    return created.url


def change_plan(session: Session, settings: Settings, user_id: str, plan_id: str) -> str:
    """Move the account's subscription to another paid plan (prorated), or cancel it at the period's end for the
    free plan. The plan itself changes when Stripe's customer.subscription.updated / deleted arrives."""
    plan = get_plan(plan_id, settings)
    if plan.id != plan_id:
        raise InvalidRequest(f"No such plan: {plan_id!r}.")
    account = ledger.find_account(session, user_id)
    if account is None or not account.stripe_subscription_id or account.subscription_status not in ACTIVE:
        if plan.price_setting is None:
            raise Conflict(f"You are already on the {plan.name} plan.")
        raise Conflict(f"You have no subscription to change: start one for the {plan.name} plan from the pricing "
                       "page (checkout).")
    api = client(settings).v1.subscriptions
    if plan.price_setting is None:
        _call("cancel", api.update, account.stripe_subscription_id, {"cancel_at_period_end": True})
        return (f"Your subscription ends at the end of the paid period; then you are on the {plan.name} plan. "
                "Tokens you have stay yours.")
    price = _price(settings, plan)
    subscription = _call("subscription", api.retrieve, account.stripe_subscription_id)
    item_id = subscription["items"]["data"][0]["id"]
    _call("plan change", api.update, account.stripe_subscription_id, {
        "items": [{"id": item_id, "price": price}], "proration_behavior": "create_prorations",
        "cancel_at_period_end": False, "metadata": {"user_id": user_id, "plan": plan.id}})
    return f"Your subscription moves to the {plan.name} plan (prorated); the new limits apply once Stripe confirms it."
