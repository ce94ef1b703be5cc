"""The operator's billing API (/api/admin/billing, behind API_KEY): adjust a balance with a reason, tokens per account
and per job kind."""

from __future__ import annotations

from fastapi.testclient import TestClient

from billing_helpers import metered_app, signed_up, split, wav_bytes
from test_submit import run_queued

KEY = {"X-API-Key": "admin-key-for-billing"}


def test_admin_billing_is_off_without_api_key(tmp_path):
    with metered_app(tmp_path) as (app, _settings, _runner):
        resp = TestClient(app).post("/api/admin/billing/adjust", headers=KEY,
                                    json={"email": "a@example.com", "delta": 5, "reason": "gift"})
        assert resp.status_code == 404 and resp.json()["detail"] == "No such path: /api/admin/billing/adjust."


def test_adjust_a_balance_with_a_reason(tmp_path):
    with metered_app(tmp_path, api_key=KEY["X-API-Key"]) as (app, _settings, _runner):
        ann = signed_up(app, "ann@example.com")
        admin = TestClient(app)
        assert admin.post("/api/admin/billing/adjust", json={"email": "ann@example.com", "delta": 5,
                                                             "reason": "gift"}).status_code == 401
        body = {"email": "ann@example.com", "delta": 250, "reason": "Refund for the outage of 3 Dec",
                "idempotency_key": "ticket-42"}
        resp = admin.post("/api/admin/billing/adjust", headers=KEY, json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["applied"] is True and resp.json()["balance"] == 250
        assert resp.json()["entry"]["reason"] == "Refund for the outage of 3 Dec"
        again = admin.post("/api/admin/billing/adjust", headers=KEY, json=body)
        assert again.json() == {"applied": False, "entry": None, "balance": 250}
        take = admin.post("/api/admin/billing/adjust", headers=KEY,
                          json={"email": "ann@example.com", "delta": -50, "reason": "Chargeback"})
        assert take.json()["balance"] == 200
        # The account sees it in its ledger (with the month's free grant that its first read adds).
        entries = ann.get("/api/billing/ledger").json()["entries"]
        assert [(e["entry"], e["delta"], e["reason"]) for e in entries[1:]] == [
            ("adjust", -50, "Chargeback"), ("adjust", 250, "Refund for the outage of 3 Dec")]
        assert ann.get("/api/billing/balance").json()["balance"] == 300
        for bad, status in [({"email": "nobody@example.com", "delta": 1, "reason": "x" * 3}, 404),
                            ({"email": "ann@example.com", "delta": 0, "reason": "nothing"}, 422),
                            ({"delta": 1, "reason": "who?"}, 422),
                            ({"email": "ann@example.com", "delta": 1, "reason": ""}, 422)]:
            assert admin.post("/api/admin/billing/adjust", headers=KEY, json=bad).status_code == status, bad


def test_usage_per_account_and_kind(tmp_path):
    with metered_app(tmp_path, api_key=KEY["X-API-Key"]) as (app, settings, _runner):
        ann, bob = signed_up(app, "ann@example.com"), signed_up(app, "bob@example.com")
        done = split(ann, wav_bytes(60)).json()  # 5, succeeds
        doomed = split(ann, wav_bytes(90), quality="balanced").json()  # 15, fails
        (settings.jobs_dir / doomed["job_id"] / "input").write_bytes(b"broken" * 100)
        assert sorted(run_queued(settings)) == ["failed", "succeeded"]
        cancelled = split(ann, wav_bytes(120)).json()  # 10, cancelled
        ann.post(f"/api/jobs/{cancelled['job_id']}/cancel", headers={"X-Job-Token": cancelled["job_token"]})
        enhance = bob.post("/api/speech/enhance", files={"file": ("v.wav", wav_bytes(60))})  # 4, still queued
        assert enhance.status_code == 202 and done["job_id"]

        resp = TestClient(app).get("/api/admin/billing/usage", headers=KEY, params={"days": 7})
        assert resp.status_code == 200, resp.text
        rows = {r["email"]: r for r in resp.json()["users"]}
        assert rows["ann@example.com"] | {"user_id": ""} == {
            "user_id": "", "email": "ann@example.com", "plan": "free", "balance": 95,
            "charged": {"stems.split": 5}, "refunded": {"stems.split": 25}, "held": {},
            "jobs": {"stems.split": 1}, "granted": 100, "purchased": 0, "adjusted": 0}
        assert rows["bob@example.com"]["held"] == {"speech.enhance": 4} and rows["bob@example.com"]["charged"] == {}
        assert rows["bob@example.com"]["balance"] == 96
        assert resp.json()["totals"] == {"stems.split": 5}
        assert [r["email"] for r in resp.json()["users"]] == ["ann@example.com", "bob@example.com"]
