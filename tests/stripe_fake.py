"""A small local stand-in for Stripe's API (the real one cannot be reached here), for stripe-python pointed at it
with STRIPE_API_BASE, and signed webhook payloads made with a test secret."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

WEBHOOK_SECRET = "whsec_test_secret_for_billing"
PRICES = {"stripe_price_id_pro": "price_pro_m", "stripe_price_id_studio": "price_studio_m",
          "stripe_price_id_pack_small": "price_pack_500", "stripe_price_id_pack_large": "price_pack_3000"}


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">."""
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(event_id: str, event_type: str, obj: dict) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": event_type, "api_version": "2024-06-20",
                       "created": int(time.time()), "data": {"object": obj}}).encode()


class FakeStripe:
    """Answers the calls billing makes; records each (method, path, form fields)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.failing = False
        self.subscriptions: dict[str, dict] = {}
        self._ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET", {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                self._handle("POST", form)

            def _handle(self, method: str, form: dict[str, str]) -> None:
                fake.calls.append((method, self.path, form))
                if fake.failing:
                    return self._answer(500, {"error": {"type": "api_error", "message": "stripe is down"}})
                if not self.headers.get("Authorization", "").startswith("Bearer sk_test_"):
                    return self._answer(401, {"error": {"type": "invalid_request_error", "message": "no key"}})
                answer = fake.route(method, self.path, form)
                if answer is None:
                    return self._answer(404, {"error": {"type": "invalid_request_error", "message": self.path}})
                self._answer(200, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def subscription(self, sub_id: str, price: str, customer: str, status: str = "active") -> dict:
        sub = {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
               "items": {"object": "list", "data": [{"id": f"si_{sub_id}", "object": "subscription_item",
                                                     "price": {"id": price, "object": "price"},
                                                     "current_period_end": int(time.time()) + 30 * 86400}]},
               "metadata": {}}
        self.subscriptions[sub_id] = sub
        return sub

    def route(self, method: str, path: str, form: dict[str, str]) -> dict | None:
        if method == "POST" and path == "/v1/customers":
            return {"id": self.next_id("cus"), "object": "customer", "email": form.get("email")}
        if method == "POST" and path == "/v1/checkout/sessions":
            cs = self.next_id("cs_test")
            return {"id": cs, "object": "checkout.session", "mode": form.get("mode"),
                    "url": f"https://checkout.stripe.test/c/pay/{cs}"}
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return {"id": self.next_id("bps"), "object": "billing_portal.session",
                    "url": f"https://billing.stripe.test/p/session/{form.get('customer')}"}
        if path.startswith("/v1/subscriptions/"):
            sub = self.subscriptions.get(path.rsplit("/", 1)[1])
            if sub is not None and method == "POST" and "items[0][price]" in form:
                sub["items"]["data"][0]["price"]["id"] = form["items[0][price]"]
            return sub
        return None

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
