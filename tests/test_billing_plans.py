"""Plans and costs: GET /api/plans (signed out too), the cost function, the quote, and each plan limit's status
and sentence on real submissions (USAGE_TOKENS_ENABLED); with metering off nothing is limited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from billing_helpers import flac_silence, metered_app, signed_up, split, wav_bytes
from burntbeats.api.app import create_app
from burntbeats.billing.costs import job_cost
from burntbeats.billing.plans import PLANS, get_plan
from burntbeats.db import session_scope
from burntbeats.jobs.kinds import JobKind
from burntbeats.models import Job
from conftest import make_settings
from test_submit import RecordingRunner


def _jobs(settings) -> int:
    with session_scope(settings.resolved_database_url) as session:
        return int(session.scalar(select(func.count()).select_from(Job)))


def test_plans_are_readable_signed_out(tmp_path):
    with metered_app(tmp_path) as (app, settings, _runner):
        body = TestClient(app).get("/api/plans").json()  # no cookie, no key
    assert body["usage_tokens_enabled"] is True and body["default_plan"] == "free"
    assert [p["id"] for p in body["plans"]] == [p.id for p in PLANS] == ["free", "pro", "studio"]
    free = body["plans"][0]
    assert free["stems"] == [2, 4] and free["qualities"] == ["fast", "balanced"] and free["max_duration_s"] == 600
    assert free["monthly_tokens"] == 100 and free["concurrent_jobs"] == 3 and free["purchasable"] is False
    assert body["costs"]["stems_per_minute"] == 10 and body["costs"]["stems_factors"] == {"2": 1, "4": 1.5, "6": 2}
    assert {p["id"] for p in body["packs"]} == {"small", "large"}


@pytest.mark.parametrize(("kind", "params", "tokens"), [
    (JobKind.STEMS_SPLIT, {"stems": 2, "quality": "fast", "input": {"duration_s": 60}}, 5),
    (JobKind.STEMS_SPLIT, {"stems": 4, "quality": "balanced", "input": {"duration_s": 210}}, 53),  # 52.5 up
    (JobKind.STEMS_SPLIT, {"stems": 6, "quality": "best", "input": {"duration_s": 30}}, 20),
    (JobKind.STEMS_SPLIT, {"stems": 2, "quality": "fast", "input": {"duration_s": 0.5}}, 1),  # at least 1
    (JobKind.SPEECH_ENHANCE, {"engine": "balanced", "input": {"duration_s": 90}}, 6),
    (JobKind.SPEECH_ENHANCE, {"engine": "fast", "input": {"duration_s": 90}}, 3),
    (JobKind.MIDI_TRANSCRIBE, {"source": {"type": "upload"}}, 5),
    (JobKind.STEMS_EXPORT, {}, 1),
    (JobKind.MIDI_EXPORT, {}, 0),
])
def test_job_cost(tmp_path, kind, params, tokens):
    assert job_cost(make_settings(tmp_path), kind, params).tokens == tokens


def test_costs_come_from_settings(tmp_path):
    settings = make_settings(tmp_path, stems_token_cost_per_minute=2, stems_token_factors={2: 1, 4: 3},
                             quality_token_factors={"fast": 1, "balanced": 1, "best": 5}, midi_token_cost=9)
    cost = job_cost(settings, JobKind.STEMS_SPLIT, {"stems": 4, "quality": "best", "input": {"duration_s": 120}})
    assert cost.tokens == 60 and cost.description == "a 4-stem best split of 2:00: 2 x 2.00 min x 3 x 5 = 60 tokens"
    assert job_cost(settings, JobKind.MIDI_TRANSCRIBE, {}).tokens == 9


def _quote(client, **params):
    resp = client.get("/api/billing/quote", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_quote_names_each_plan_limit(tmp_path):
    with metered_app(tmp_path) as (app, _settings, _runner):
        ann = signed_up(app, "ann@example.com")
        ok = _quote(ann, kind="stems.split", duration_s=210, stems=4, quality="balanced")
        assert ok["metering"] is True and ok["plan"] == "free" and ok["cost_tokens"] == 53 and ok["allowed"] is True
        assert ok["refusal"] is None

        best = _quote(ann, kind="stems.split", duration_s=60, stems=2, quality="best")
        assert best["allowed"] is False and best["refusal_status"] == 403
        assert best["refusal"] == ("Your Free plan allows fast and balanced quality; best quality needs the Pro plan. "
                                   "Upgrade on the pricing page (/pricing), or choose fast or balanced.")
        six = _quote(ann, kind="stems.split", duration_s=60, stems=6, quality="fast")
        assert six["refusal"] == ("Your Free plan makes 2 or 4 stems; 6 stems need the Pro plan. Upgrade on the "
                                  "pricing page (/pricing), or choose 2 or 4 stems.")
        long = _quote(ann, kind="speech.enhance", duration_s=700)
        assert long["refusal_status"] == 403 and long["refusal"] == (
            "This file is 11:40 long; your Free plan takes files up to 10:00. Upgrade to Pro (files up to 30:00) "
            "on the pricing page (/pricing), or trim the file.")
        huge = _quote(ann, kind="stems.split", duration_s=3 * 3600, stems=2, quality="fast")
        assert huge["refusal"].endswith("No plan takes a file that long: trim it or split it in parts.")
        batch = _quote(ann, kind="midi.transcribe", count=4)
        assert batch["cost_tokens"] == 20 and batch["refusal_status"] == 403
        assert batch["refusal"] == ("Your Free plan runs 3 jobs at once and 4 more would make 4; wait for one to "
                                    "finish, or upgrade to Pro (10 at once) on the pricing page (/pricing).")
        assert ann.get("/api/billing/quote", params={"kind": "stems.split", "stems": 3}).status_code == 422
        assert TestClient(app).get("/api/billing/quote", params={"kind": "midi.transcribe"}).status_code == 401


def test_submissions_outside_the_plan_get_403_with_the_sentence(tmp_path):
    with metered_app(tmp_path, max_duration_s=3600) as (app, settings, _runner):
        ann = signed_up(app, "ann@example.com")
        best = split(ann, wav_bytes(2), quality="best")
        assert best.status_code == 403 and "best quality needs the Pro plan" in best.json()["detail"]
        long = split(ann, flac_silence(601), name="long.flac")
        assert long.status_code == 403, long.text
        assert long.json()["detail"].startswith("This file is 10:01 long; your Free plan takes files up to 10:00.")
        assert _jobs(settings) == 0  # refused before any row

        for _ in range(3):
            assert split(ann, wav_bytes(1)).status_code == 202
        fourth = split(ann, wav_bytes(1))
        assert fourth.status_code == 403
        assert fourth.json()["detail"].startswith("Your Free plan runs 3 jobs at once and you have 3 queued or running")
        assert _jobs(settings) == 3
        # Jobs at once are per account.
        assert split(signed_up(app, "bob@example.com"), wav_bytes(1)).status_code == 202


def test_metering_off_limits_nothing(tmp_path):
    settings = make_settings(tmp_path, max_duration_s=3600)
    assert settings.usage_tokens_enabled is False and settings.auth_required is False
    with TestClient(create_app(settings, runner=RecordingRunner())) as client:
        assert split(client, wav_bytes(2), quality="best").status_code == 202
        assert split(client, flac_silence(601), name="long.flac").status_code == 202
        for _ in range(3):
            assert split(client, wav_bytes(1)).status_code == 202
        quote = _quote(client, kind="stems.split", duration_s=60, stems=6, quality="best")
        assert quote["metering"] is False and quote["allowed"] is True and quote["cost_tokens"] == 40
    assert _jobs(settings) == 5


def test_metering_turns_accounts_on(tmp_path):
    assert make_settings(tmp_path, usage_tokens_enabled=True).auth_required is True
    assert get_plan("nope").id == "free" and get_plan(None, make_settings(tmp_path, default_plan="pro")).id == "pro"


def test_files_are_kept_as_long_as_the_owners_plan_says(tmp_path):
    from datetime import timedelta

    from sqlalchemy import update

    from burntbeats.billing.models import BillingAccount
    from burntbeats.jobs.runner import purge_expired
    from burntbeats.models import User, utcnow
    from test_submit import run_queued

    with metered_app(tmp_path) as (app, settings, _runner):
        free, pro = signed_up(app, "free@example.com"), signed_up(app, "pro@example.com")
        free_job, pro_job = split(free, wav_bytes(1)).json(), split(pro, wav_bytes(1)).json()
        assert run_queued(settings) == ["succeeded", "succeeded"]
        url = settings.resolved_database_url
        with session_scope(url) as session:
            pro_id = session.scalar(select(User.id).where(User.email == "pro@example.com"))
            session.execute(update(BillingAccount).where(BillingAccount.user_id == pro_id).values(plan="pro"))
            two_days_ago = utcnow() - timedelta(hours=48)  # past Free's 24 h, within Pro's 7 days
            session.execute(update(Job).values(finished_at=two_days_ago))
        assert purge_expired(settings) == 1
        with session_scope(url) as session:
            assert session.get(Job, free_job["job_id"]).files_purged_at is not None
            assert session.get(Job, pro_job["job_id"]).files_purged_at is None
        assert not (settings.jobs_dir / free_job["job_id"]).exists()
        assert (settings.jobs_dir / pro_job["job_id"] / "input").exists()


def test_the_balance_names_what_the_plan_does_not_allow(tmp_path):
    with metered_app(tmp_path) as (app, _settings, _runner):
        refusals = signed_up(app, "ann@example.com").get("/api/billing/balance").json()["option_refusals"]
    assert set(refusals["stems"]) == {"6"} and set(refusals["qualities"]) == {"best"}
    assert refusals["qualities"]["best"].startswith("Your Free plan allows fast and balanced quality; best quality")
