"""Stripe: checkout sessions, the portal and plan changes go to a local stand-in (stripe-python's api base pointed at
it); webhooks are signed with a test secret and verified by stripe-python: a forged one is refused, a replay credits
once (also when the deliveries race), each handled event changes plans and tokens, unknown events are ignored."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import func, select

from billing_helpers import metered_app, signed_up
from burntbeats.accounts import users
from burntbeats.api.app import create_app
from burntbeats.billing import ledger
from burntbeats.billing.models import BillingAccount, LedgerEntry, StripeEvent
from burntbeats.db import session_scope
from burntbeats.models import User
from conftest import make_settings
from stripe_fake import PRICES, WEBHOOK_SECRET, FakeStripe, event, sign
from test_billing_race import ServerThread
from test_submit import RecordingRunner


@contextmanager
def stripe_app(tmp_path, **overrides):
    with FakeStripe() as fake:
        settings = dict(stripe_secret_key="sk_test_billing", stripe_webhook_secret=WEBHOOK_SECRET,
                        stripe_api_base=fake.base, **PRICES)
        settings.update(overrides)
        with metered_app(tmp_path, **settings) as (app, s, _runner):
            yield app, s, fake


def _user(settings, email: str) -> str:
    with session_scope(settings.resolved_database_url) as session:
        return session.scalar(select(User.id).where(User.email == email))


def _account(settings, user_id: str) -> BillingAccount | None:
    with session_scope(settings.resolved_database_url) as session:
        return session.get(BillingAccount, user_id)


def _post_event(client, payload: bytes, signature: str | None = None):
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature or sign(payload)}
    return client.post("/api/billing/webhook", content=payload, headers=headers)


def _balance(client) -> int:
    return client.get("/api/billing/balance").json()["balance"]


def test_checkout_sessions_for_a_plan_and_a_pack(tmp_path):
    with stripe_app(tmp_path) as (app, settings, fake):
        plans = signed_up(app, "ann@example.com").get("/api/plans").json()
        assert [p["purchasable"] for p in plans["plans"]] == [False, True, True]
        ann = signed_up(app, "buyer@example.com")
        resp = ann.post("/api/billing/checkout", json={"plan": "pro"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["url"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
        user_id = _user(settings, "buyer@example.com")
        (m1, p1, customer), (m2, p2, form) = fake.calls
        assert (m1, p1, m2, p2) == ("POST", "/v1/customers", "POST", "/v1/checkout/sessions")
        assert customer["email"] == "buyer@example.com" and customer["metadata[user_id]"] == user_id
        assert form["mode"] == "subscription" and form["line_items[0][price]"] == "price_pro_m"
        assert form["customer"] == "cus_1" and form["client_reference_id"] == user_id
        assert form["metadata[plan]"] == "pro" and form["subscription_data[metadata][plan]"] == "pro"
        assert form["success_url"] == "http://testserver/account?checkout=success"
        assert _account(settings, user_id).stripe_customer_id == "cus_1"

        pack = ann.post("/api/billing/checkout", json={"pack": "large"})
        assert pack.status_code == 200
        _method, path, form = fake.calls[-1]
        assert path == "/v1/checkout/sessions" and len(fake.calls) == 3  # the customer is reused
        assert form["mode"] == "payment" and form["line_items[0][price]"] == "price_pack_3000"
        assert form["metadata[pack]"] == "large"

        bad = ann.post("/api/billing/checkout", json={"plan": "free"})
        assert bad.status_code == 422 and "choose pro or studio" in bad.json()["detail"]
        both = ann.post("/api/billing/checkout", json={"plan": "pro", "pack": "small"})
        assert both.status_code == 422


def test_payments_off_and_stripe_down_are_sentences(tmp_path):
    with metered_app(tmp_path) as (app, _settings, _runner):
        ann = signed_up(app, "ann@example.com")
        off = ann.post("/api/billing/checkout", json={"pack": "small"})
        assert off.status_code == 404 and "STRIPE_SECRET_KEY" in off.json()["detail"]
        assert ann.post("/api/billing/portal").status_code == 404
        hook = ann.post("/api/billing/webhook", content=b"{}")
        assert hook.status_code == 404 and "STRIPE_WEBHOOK_SECRET" in hook.json()["detail"]
    with stripe_app(tmp_path / "b", stripe_price_id_pack_small="") as (app, _settings, fake):
        ann = signed_up(app, "ann@example.com")
        unsold = ann.post("/api/billing/checkout", json={"pack": "small"})
        assert unsold.status_code == 404 and "STRIPE_PRICE_ID_PACK_SMALL" in unsold.json()["detail"]
        fake.failing = True
        down = ann.post("/api/billing/checkout", json={"pack": "large"})
        assert down.status_code == 503 and down.headers["retry-after"] == "60"
        assert down.json()["detail"].startswith("The payment provider could not be reached")


def test_a_forged_or_stale_signature_is_refused(tmp_path):
    with stripe_app(tmp_path) as (app, settings, _fake):
        ann = signed_up(app, "ann@example.com")
        user_id = _user(settings, "ann@example.com")
        payload = event("evt_forged", "checkout.session.completed", {
            "id": "cs_x", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "client_reference_id": user_id, "metadata": {"pack": "large"}})
        for signature in (sign(payload, secret="whsec_someone_else"), sign(payload, at=1_000_000_000), "t=1,v1=00",
                          ""):
            resp = _post_event(ann, payload, signature) if signature else ann.post(
                "/api/billing/webhook", content=payload)
            assert resp.status_code == 400, (signature, resp.text)
            assert "Stripe-Signature" in resp.json()["detail"]
        tampered = payload.replace(b'"large"', b'"small"')
        assert _post_event(ann, tampered, sign(payload)).status_code == 400
        assert _post_event(ann, b"not json", sign(b"not json")).status_code == 400
        with session_scope(settings.resolved_database_url) as session:
            assert session.scalar(select(func.count()).select_from(StripeEvent)) == 0
        assert _balance(ann) == 100  # only the free month


def test_a_pack_purchase_credits_once_however_often_it_is_replayed(tmp_path):
    with stripe_app(tmp_path) as (app, settings, _fake):
        ann = signed_up(app, "ann@example.com")
        user_id = _user(settings, "ann@example.com")
        assert _balance(ann) == 100
        session_obj = {"id": "cs_test_pack", "object": "checkout.session", "mode": "payment",
                       "payment_status": "paid", "client_reference_id": user_id, "customer": "cus_9",
                       "metadata": {"user_id": user_id, "pack": "small"}}
        payload = event("evt_pack_1", "checkout.session.completed", session_obj)
        first = _post_event(ann, payload)
        assert first.status_code == 200, first.text
        assert first.json() | {"detail": ""} == {"received": True, "event_id": "evt_pack_1", "duplicate": False,
                                                 "type": "checkout.session.completed", "handled": True, "detail": ""}
        assert _balance(ann) == 600
        again = _post_event(ann, payload)  # Stripe retries the same event
        assert again.status_code == 200 and again.json()["duplicate"] is True
        # Another event about the same checkout session (a resend under a new id) credits nothing either.
        assert _post_event(ann, event("evt_pack_2", "checkout.session.completed", session_obj)).status_code == 200
        assert _balance(ann) == 600
        with session_scope(settings.resolved_database_url) as session:
            purchases = session.scalars(select(LedgerEntry).where(LedgerEntry.entry == "purchase")).all()
            assert [(p.delta, p.ref) for p in purchases] == [(500, "stripe:checkout:cs_test_pack")]
        assert _account(settings, user_id).stripe_customer_id == "cus_9"
        unpaid = dict(session_obj, id="cs_test_unpaid", payment_status="unpaid")
        assert _post_event(ann, event("evt_unpaid", "checkout.session.completed", unpaid)).json()["detail"] == (
            "payment unpaid: nothing credited")
        assert _balance(ann) == 600


def test_a_subscription_sets_the_plan_grants_monthly_and_ends(tmp_path):
    with stripe_app(tmp_path) as (app, settings, fake):
        ann = signed_up(app, "ann@example.com")
        user_id = _user(settings, "ann@example.com")
        assert ann.post("/api/billing/checkout", json={"plan": "pro"}).status_code == 200  # customer cus_1
        assert _balance(ann) == 100  # still free: this month's free tokens
        sub = fake.subscription("sub_1", "price_pro_m", "cus_1")
        done = {"id": "cs_test_sub", "object": "checkout.session", "mode": "subscription", "customer": "cus_1",
                "subscription": "sub_1", "client_reference_id": user_id, "metadata": {"plan": "pro"}}
        assert _post_event(ann, event("evt_s1", "checkout.session.completed", done)).json()["detail"] == (
            "plan pro started")
        assert _post_event(ann, event("evt_s2", "customer.subscription.created", sub)).status_code == 200
        invoice = {"id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
                   "billing_reason": "subscription_create",
                   "lines": {"object": "list", "data": [{"price": {"id": "price_pro_m"}}]}}
        assert _post_event(ann, event("evt_s3", "invoice.paid", invoice)).json()["detail"] == "1000 tokens granted"
        assert _post_event(ann, event("evt_s3", "invoice.paid", invoice)).json()["duplicate"] is True
        balance = ann.get("/api/billing/balance").json()
        assert balance["plan"]["id"] == "pro" and balance["balance"] == 1100
        assert balance["subscription_status"] == "active" and balance["current_period_end"]
        assert balance["has_billing_account"] is True
        # The plan's limits apply at once: 6 stems and best quality are allowed now.
        quote = ann.get("/api/billing/quote", params={"kind": "stems.split", "duration_s": 60, "stems": 6,
                                                      "quality": "best"}).json()
        assert quote["allowed"] is True and quote["plan"] == "pro"

        renewal = dict(invoice, id="in_2", billing_reason="subscription_cycle")
        assert _post_event(ann, event("evt_s4", "invoice.paid", renewal)).status_code == 200
        proration = dict(invoice, id="in_3", billing_reason="subscription_update")
        assert _post_event(ann, event("evt_s5", "invoice.paid", proration)).json()["detail"].endswith("no grant")
        assert _balance(ann) == 2100

        # A plan change (Stripe's portal or POST /api/billing/plan) arrives as subscription.updated.
        changed = ann.post("/api/billing/plan", json={"plan": "studio"})
        assert changed.status_code == 200, changed.text
        assert [c[:2] for c in fake.calls[-2:]] == [("GET", "/v1/subscriptions/sub_1"),
                                                     ("POST", "/v1/subscriptions/sub_1")]
        form = fake.calls[-1][2]
        assert form["items[0][id]"] == "si_sub_1" and form["items[0][price]"] == "price_studio_m"
        assert form["proration_behavior"] == "create_prorations"
        assert ann.get("/api/billing/balance").json()["plan"]["id"] == "pro"  # until Stripe confirms
        updated = fake.subscriptions["sub_1"]
        assert _post_event(ann, event("evt_s6", "customer.subscription.updated", updated)).json()["detail"] == (
            "plan studio (subscription active)")
        assert ann.get("/api/billing/balance").json()["plan"]["id"] == "studio"
        past_due = dict(updated, status="past_due")
        assert _post_event(ann, event("evt_s7", "customer.subscription.updated", past_due)).status_code == 200
        assert _account(settings, user_id).plan == "studio"  # kept while Stripe retries the card

        ended = ann.post("/api/billing/plan", json={"plan": "free"})
        assert ended.status_code == 200 and fake.calls[-1][2]["cancel_at_period_end"] == "true"
        deleted = dict(updated, status="canceled")
        assert _post_event(ann, event("evt_s8", "customer.subscription.deleted", deleted)).json()["detail"] == (
            "plan free (subscription canceled)")
        after = ann.get("/api/billing/balance").json()
        assert after["plan"]["id"] == "free" and after["subscription_status"] == "canceled"
        assert after["balance"] == 2100  # tokens stay (this month's free tokens were granted already)
        assert ann.post("/api/billing/plan", json={"plan": "pro"}).status_code == 409


def test_unknown_events_are_ignored_and_logged(tmp_path, caplog):
    with stripe_app(tmp_path) as (app, _settings, _fake):
        ann = signed_up(app, "ann@example.com")
        with caplog.at_level(logging.INFO, logger="burntbeats.billing.webhooks"):
            resp = _post_event(ann, event("evt_odd", "charge.refund.updated", {"id": "re_1", "object": "refund"}))
        assert resp.status_code == 200
        assert resp.json() | {"event_id": ""} == {"received": True, "event_id": "", "type": "charge.refund.updated",
                                                  "duplicate": False, "handled": False, "detail": "ignored"}
        assert "charge.refund.updated ignored" in caplog.text
        orphan = {"id": "cs_nobody", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
                  "customer": "cus_unknown", "metadata": {"pack": "small"}}
        assert _post_event(ann, event("evt_orphan", "checkout.session.completed", orphan)).json()["detail"] == (
            "no such account")


def test_portal_link(tmp_path):
    with stripe_app(tmp_path) as (app, _settings, fake):
        ann = signed_up(app, "ann@example.com")
        first = ann.post("/api/billing/portal")
        assert first.status_code == 409 and "buy a plan or a token pack first" in first.json()["detail"]
        ann.post("/api/billing/checkout", json={"pack": "small"})
        resp = ann.post("/api/billing/portal")
        assert resp.status_code == 200 and resp.json()["url"] == "https://billing.stripe.test/p/session/cus_1"
        assert fake.calls[-1][2] == {"customer": "cus_1", "return_url": "http://testserver/account"}


def test_racing_deliveries_of_one_event_credit_once(tmp_path, database_url):
    """The same signed event posted by 8 parallel clients over HTTP (SQLite and PostgreSQL): one handles it."""
    with FakeStripe() as fake:
        settings = make_settings(tmp_path, database_url=database_url, usage_tokens_enabled=True,
                                 stripe_secret_key="sk_test_billing", stripe_webhook_secret=WEBHOOK_SECRET,
                                 stripe_api_base=fake.base, allowed_hosts="127.0.0.1", **PRICES)
        app = create_app(settings, runner=RecordingRunner())
        with ServerThread(app) as base:
            with session_scope(settings.resolved_database_url) as session:
                user_id = users.create_user(session, "racer@example.com", "racing horse 1").id
            payload = event("evt_race", "checkout.session.completed", {
                "id": "cs_race", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
                "client_reference_id": user_id, "metadata": {"pack": "large"}})
            barrier, answers = threading.Barrier(8), []

            def deliver() -> None:
                barrier.wait()
                answers.append(httpx.post(f"{base}/api/billing/webhook", content=payload, timeout=60,
                                          headers={"Stripe-Signature": sign(payload)}))

            threads = [threading.Thread(target=deliver) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        assert sorted(a.status_code for a in answers) == [200] * 8, [a.text for a in answers]
        assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 7
        with session_scope(settings.resolved_database_url) as session:
            assert ledger.balance(session, user_id) == 3000


@pytest.mark.parametrize("secret", ["", "whsec_other"])
def test_webhook_needs_our_secret(tmp_path, secret):
    with stripe_app(tmp_path, stripe_webhook_secret=secret) as (app, _settings, _fake):
        payload = event("evt_1", "invoice.paid", {})
        resp = signed_up(app, "ann@example.com").post("/api/billing/webhook", content=payload,
                                                      headers={"Stripe-Signature": sign(payload)})
        assert resp.status_code == (404 if not secret else 400)
