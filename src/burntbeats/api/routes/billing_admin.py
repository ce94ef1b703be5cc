"""The operator's billing API under /api/admin/billing (API_KEY, as the rest of /api/admin: 404 without it)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from fastapi import APIRouter, Depends, Query

from burntbeats.accounts import users
from burntbeats.api.common import iso_time
from burntbeats.api.deps import SessionDep, StateDep
from burntbeats.api.routes.admin import require_admin_key
from burntbeats.api.schemas.billing_admin import AdjustedPublic, AdjustRequest, BillingUsagePublic
from burntbeats.billing import ledger, report
from burntbeats.billing.models import LedgerEntry
from burntbeats.errors import InvalidRequest, NotFound
from burntbeats.models import User, utcnow

router = APIRouter(prefix="/api/admin/billing", tags=["admin"], dependencies=[Depends(require_admin_key)])


@router.post("/adjust", name="admin.billing.adjust", response_model=AdjustedPublic,
             summary="Add or take an account's tokens (a ledger entry with the reason)")
def adjust(body: AdjustRequest, session: SessionDep) -> dict:
    if (body.user_id is None) == (body.email is None):
        raise InvalidRequest("Name the account by user_id or by email (one of them).")
    if body.delta == 0:
        raise InvalidRequest("delta must not be 0.")
    user = session.get(User, body.user_id) if body.user_id else users.by_email(session, body.email or "")
    if user is None:
        raise NotFound(f"No such account: {body.user_id or body.email}.")
    ledger.lock_account(session, user.id)  # an adjustment and a submission of the account take turns
    ref = f"adjust:{user.id}:{body.idempotency_key}" if body.idempotency_key else None
    entry_id = ledger.append(session, user.id, body.delta, ledger.ADJUST, ref=ref, reason=body.reason.strip())
    entry = session.get(LedgerEntry, entry_id) if entry_id is not None else None
    balance = ledger.balance(session, user.id)
    public = None
    if entry is not None:
        public = {"id": entry.id, "created_at": iso_time(entry.created_at), "entry": entry.entry, "delta": entry.delta,
                  "balance_after": balance, "job_id": None, "kind": None, "reason": entry.reason}
    return {"applied": entry is not None, "entry": public, "balance": balance}


@router.get("/usage", name="admin.billing.usage", response_model=BillingUsagePublic,
            summary="Tokens per account and per job kind over the last `days` days")
def usage(state: StateDep, session: SessionDep, days: float = Query(30.0, gt=0, le=3660)) -> dict:
    since = utcnow() - timedelta(days=days)
    rows = report.usage(session, state.settings, since)
    totals: Counter[str] = Counter()
    for row in rows:
        totals.update(row["charged"])
    return {"since": iso_time(since), "users": rows, "totals": dict(totals)}
