"""Tokens per account and per job kind over a period, from the ledger (the admin usage report)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from burntbeats.billing import ledger
from burntbeats.billing.models import BillingAccount, LedgerEntry
from burntbeats.billing.plans import get_plan
from burntbeats.models import User
from burntbeats.settings import Settings


def _row() -> dict[str, Any]:
    return {"charged": defaultdict(int), "refunded": defaultdict(int), "held": defaultdict(int),
            "jobs": defaultdict(int), "granted": 0, "purchased": 0, "adjusted": 0}


def usage(session: Session, settings: Settings, since: datetime) -> list[dict[str, Any]]:
    """One dict per account with ledger entries since `since`: tokens charged / refunded / held per kind (by the
    reservation's time), jobs charged per kind, tokens granted, purchased and adjusted; plan and balance now."""
    report: dict[str, dict[str, Any]] = defaultdict(_row)
    close = aliased(LedgerEntry)
    jobs = session.execute(
        select(LedgerEntry.user_id, LedgerEntry.kind, close.entry, func.sum(-LedgerEntry.delta), func.count())
        .select_from(LedgerEntry)
        .outerjoin(close, and_(close.job_id == LedgerEntry.job_id, close.entry.in_((ledger.SETTLE, ledger.REFUND))))
        .where(LedgerEntry.entry == ledger.RESERVE, LedgerEntry.created_at >= since)
        .group_by(LedgerEntry.user_id, LedgerEntry.kind, close.entry))
    for user_id, kind, ended, tokens, count in jobs:
        row = report[user_id]
        bucket = {ledger.SETTLE: "charged", ledger.REFUND: "refunded"}.get(ended, "held")
        row[bucket][kind or "?"] += int(tokens or 0)
        if ended == ledger.SETTLE:
            row["jobs"][kind or "?"] += int(count)
    credits = session.execute(
        select(LedgerEntry.user_id, LedgerEntry.entry, func.sum(LedgerEntry.delta))
        .where(LedgerEntry.entry.in_((ledger.GRANT, ledger.PURCHASE, ledger.ADJUST)), LedgerEntry.created_at >= since)
        .group_by(LedgerEntry.user_id, LedgerEntry.entry))
    names = {ledger.GRANT: "granted", ledger.PURCHASE: "purchased", ledger.ADJUST: "adjusted"}
    for user_id, entry, tokens in credits:
        report[user_id][names[entry]] += int(tokens or 0)
    if not report:
        return []
    ids = list(report)
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    plans = dict(session.execute(select(BillingAccount.user_id, BillingAccount.plan)
                                 .where(BillingAccount.user_id.in_(ids))).all())
    balances = dict(session.execute(select(LedgerEntry.user_id, func.sum(LedgerEntry.delta))
                                    .where(LedgerEntry.user_id.in_(ids)).group_by(LedgerEntry.user_id)).all())
    out = []
    for user_id, row in report.items():
        out.append({"user_id": user_id, "email": emails.get(user_id), "plan": get_plan(plans.get(user_id), settings).id,
                    "balance": int(balances.get(user_id) or 0), "granted": row["granted"],
                    "purchased": row["purchased"], "adjusted": row["adjusted"],
                    **{key: dict(row[key]) for key in ("charged", "refunded", "held", "jobs")}})
    return sorted(out, key=lambda r: (-sum(r["charged"].values()), r["user_id"]))
