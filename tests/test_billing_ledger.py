"""The token ledger: reserve on submit, settle on success, refund exactly the reservation on failure, cancel or a
killed worker; 402 with a sentence when the balance is short; append-only; the balance and a paged ledger."""

from __future__ import annotations

import os
import signal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from audio_fixtures import make_song
from billing_helpers import flac_silence, metered_app, signed_up, split, wav_bytes
from burntbeats.api.app import create_app
from burntbeats.billing import ledger
from burntbeats.billing.models import BillingAccount, LedgerEntry
from burntbeats.db import session_scope
from burntbeats.jobs import service
from burntbeats.models import Job, User
from conftest import make_settings, wait_for
from test_submit import run_queued


def _me(settings, email: str) -> str:
    with session_scope(settings.resolved_database_url) as session:
        return session.scalar(select(User.id).where(User.email == email))


def _entries(settings, user_id: str) -> list[tuple[str, int]]:
    with session_scope(settings.resolved_database_url) as session:
        return [(e.entry, e.delta) for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id))]


def _balance(client) -> dict:
    resp = client.get("/api/billing/balance")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_job_reserves_on_submit_and_settles_on_success(tmp_path):
    with metered_app(tmp_path) as (app, settings, runner):
        ann = signed_up(app, "ann@example.com")
        first = _balance(ann)
        assert first["metering"] is True and first["plan"]["id"] == "free"
        assert first["balance"] == 100 and first["held"] == 0  # the Free plan's tokens for this month
        quote = ann.get("/api/billing/quote", params={"kind": "stems.split", "duration_s": 60, "stems": 2,
                                                      "quality": "fast"}).json()
        assert quote["cost_tokens"] == 5 and quote["balance"] == 100 and quote["allowed"] is True

        job = split(ann, wav_bytes(60)).json()
        assert _balance(ann)["balance"] == 95 and _balance(ann)["held"] == 5
        assert run_queued(settings) == ["succeeded"]
        after = _balance(ann)
        assert after["balance"] == 95 and after["held"] == 0
        user = _me(settings, "ann@example.com")
        assert _entries(settings, user) == [("grant", 100), ("reserve", -5), ("settle", 0)]

        page = ann.get("/api/billing/ledger").json()
        assert [(e["entry"], e["delta"], e["balance_after"]) for e in page["entries"]] == [
            ("settle", 0, 95), ("reserve", -5, 95), ("grant", 100, 100)]
        assert page["entries"][1]["job_id"] == job["job_id"] and page["entries"][1]["kind"] == "stems.split"
        assert page["entries"][1]["reason"] == ("Reserved for a 2-stem fast split of 1:00: 10 x 1.00 min x 1 x 0.5 = "
                                                "5 tokens.")
        assert page["next_before"] is None
        # The month is granted once, however often the balance is read.
        assert _balance(ann)["balance"] == 95 and len(_entries(settings, user)) == 3


def test_a_failed_job_refunds_exactly_its_reservation(tmp_path):
    with metered_app(tmp_path) as (app, settings, _runner):
        ann = signed_up(app, "ann@example.com")
        keep = split(ann, wav_bytes(30)).json()  # 3 tokens, succeeds
        doomed = split(ann, wav_bytes(90), quality="balanced").json()  # 15 tokens, its input is broken below
        assert _balance(ann)["balance"] == 100 - 3 - 15
        (settings.jobs_dir / doomed["job_id"] / "input").write_bytes(b"not audio at all" * 100)
        assert sorted(run_queued(settings)) == ["failed", "succeeded"]
        after = _balance(ann)
        assert after["balance"] == 97 and after["held"] == 0
        user = _me(settings, "ann@example.com")
        with session_scope(settings.resolved_database_url) as session:
            closes = {e.job_id: (e.entry, e.delta) for e in session.scalars(
                select(LedgerEntry).where(LedgerEntry.entry.in_(("settle", "refund"))))}
        assert closes == {keep["job_id"]: ("settle", 0), doomed["job_id"]: ("refund", 15)}
        assert ("refund", 15) in _entries(settings, user)


def test_a_cancelled_job_refunds_and_a_second_end_changes_nothing(tmp_path):
    with metered_app(tmp_path) as (app, settings, _runner):
        ann = signed_up(app, "ann@example.com")
        job = split(ann, wav_bytes(120), stems=4, quality="balanced").json()  # 10 x 2 x 1.5 = 30
        assert _balance(ann)["balance"] == 70
        resp = ann.post(f"/api/jobs/{job['job_id']}/cancel", headers={"X-Job-Token": job["job_token"]})
        assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
        assert _balance(ann)["balance"] == 100
        with session_scope(settings.resolved_database_url) as session:
            # The job is over: ending it again (a late worker, a replayed close) adds nothing.
            assert ledger.close_job(session, job["job_id"], "failed") is False
            assert service.finish_job(session, job["job_id"], error="late") is False
        assert run_queued(settings) == []
        assert _entries(settings, _me(settings, "ann@example.com")) == [("grant", 100), ("reserve", -30),
                                                                        ("refund", 30)]


def test_short_of_tokens_is_a_402_that_says_the_cost_and_the_balance(tmp_path):
    # Pro (10 jobs at once, no free grant) with 100 tokens from the operator: only tokens limit here.
    with metered_app(tmp_path, max_duration_s=3600, midi_token_cost=10, default_plan="pro") as (app, settings, _r):
        ann = signed_up(app, "ann@example.com")
        with session_scope(settings.resolved_database_url) as session:
            ledger.append(session, _me(settings, "ann@example.com"), 100, ledger.ADJUST, reason="test tokens")
        assert split(ann, flac_silence(600), "long.flac", stems=4, quality="fast").status_code == 202  # 75
        resp = split(ann, wav_bytes(180), stems=2, quality="balanced")  # 30 > 25
        assert resp.status_code == 402
        assert resp.json()["detail"] == (
            "This split costs 30 tokens and your balance is 25 (75 more are held by your queued and running jobs). "
            "Buy a token pack or upgrade your plan on the pricing page (/pricing), or choose a shorter file, fewer "
            "stems or a faster quality.")
        quote = ann.get("/api/billing/quote", params={"kind": "stems.split", "duration_s": 180, "stems": 2,
                                                      "quality": "balanced"}).json()
        assert quote["allowed"] is False and quote["refusal_status"] == 402
        assert quote["refusal"] == resp.json()["detail"]

        # A batch is admitted whole or not at all.
        def batch(n: int):
            return ann.post("/api/midi/batch", files=[("files", (f"{i}.wav", wav_bytes(1))) for i in range(n)])

        assert batch(2).status_code == 202  # 2 x 10 = 20 of 25
        refused = batch(2)  # 20 > 5
        assert refused.status_code == 402, refused.text
        assert refused.json()["detail"].startswith("This batch of 2 jobs costs 20 tokens and your balance is 5 (95 ")
        with session_scope(settings.resolved_database_url) as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 3  # no row for the refused ones
        assert len(list(settings.jobs_dir.iterdir())) == 3  # and the refused uploads' files were removed
        assert _balance(ann)["balance"] == 5 and _balance(ann)["held"] == 95


def test_the_ledger_is_append_only(tmp_path):
    with metered_app(tmp_path) as (app, settings, _runner):
        ann = signed_up(app, "ann@example.com")
        _balance(ann)
        with pytest.raises(DBAPIError, match="append-only"):
            with session_scope(settings.resolved_database_url) as session:
                session.execute(text("UPDATE token_ledger SET delta = 1000000"))
        assert _balance(ann)["balance"] == 100


def test_the_ledger_pages_newest_first(tmp_path):
    with metered_app(tmp_path) as (app, settings, _runner):
        ann = signed_up(app, "ann@example.com")
        user = _me(settings, "ann@example.com")
        assert _balance(ann)["balance"] == 100  # the month's grant comes first
        with session_scope(settings.resolved_database_url) as session:
            for i in range(7):
                ledger.append(session, user, i + 1, ledger.ADJUST, reason=f"gift {i}")
        first = ann.get("/api/billing/ledger", params={"limit": 3}).json()
        assert [e["delta"] for e in first["entries"]] == [7, 6, 5]
        assert [e["balance_after"] for e in first["entries"]] == [128, 121, 115]
        second = ann.get("/api/billing/ledger", params={"limit": 3, "before": first["next_before"]}).json()
        third = ann.get("/api/billing/ledger", params={"limit": 3, "before": second["next_before"]}).json()
        assert third["entries"][-1]["entry"] == "grant" and third["entries"][-1]["balance_after"] == 100
        assert [e["delta"] for e in second["entries"] + third["entries"]] == [4, 3, 2, 1, 100]
        assert third["next_before"] is None
        # Another account sees only its own entries.
        bob = signed_up(app, "bob@example.com").get("/api/billing/ledger").json()["entries"]
        assert [(e["entry"], e["delta"]) for e in bob] == [("grant", 100)]


def test_metering_off_writes_no_ledger(tmp_path, client):
    resp = split(client, wav_bytes(2))
    assert resp.status_code == 202
    job = resp.json()
    assert wait_for(client, job["status_url"], job["job_token"])["status"] == "succeeded"
    balance = client.get("/api/billing/balance").json()
    assert balance["metering"] is False and balance["balance"] == 0 and balance["held"] == 0
    settings = client.app.state.burntbeats.settings
    with session_scope(settings.resolved_database_url) as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
        assert session.scalar(select(func.count()).select_from(BillingAccount)) == 0


def test_a_killed_worker_refunds_its_job(tmp_path):
    """A real worker process SIGKILLed on the job's last attempt: the job fails and its reservation comes back."""
    from test_runner_faults import _enhancing, _wait_job, _worker_pid

    song = tmp_path / "take.flac"
    make_song(song, seconds=8.0)
    settings = make_settings(tmp_path, usage_tokens_enabled=True, job_max_attempts=1, job_concurrency=1)
    app = create_app(settings)
    with TestClient(app):  # real worker processes
        ann = signed_up(app, "ann@example.com")
        with open(song, "rb") as fh:
            resp = ann.post("/api/speech/enhance", files={"file": ("take.flac", fh)})
        assert resp.status_code == 202, resp.text
        job = resp.json()
        assert _balance(ann)["balance"] == 100 - 1  # 4 x 8/60 min = 0.53 -> 1 token
        row = _wait_job(settings.resolved_database_url, job["job_id"], _enhancing(1), what="enhancing")
        os.kill(_worker_pid(row), signal.SIGKILL)
        status = wait_for(ann, job["status_url"], job["job_token"], timeout=30)
        assert status["status"] == "failed" and "stopped unexpectedly" in status["error"]
        assert _balance(ann)["balance"] == 100 and _balance(ann)["held"] == 0
        assert _entries(settings, _me(settings, "ann@example.com")) == [("grant", 100), ("reserve", -1),
                                                                        ("refund", 1)]
