"""The token ledger: append-only entries, the balance is their sum (never stored anywhere else).

Every entry that must happen once has a unique `ref` and is written with INSERT ... ON CONFLICT DO NOTHING
(PostgreSQL and SQLite): a job's reservation (`reserve:<job>`) and its close (`close:<job>`, settle or refund),
a month's grant, a Stripe purchase. Concurrency: admission first locks the account's row (`lock_account`, an
UPDATE: a row lock on PostgreSQL, the write lock on SQLite), then reads the balance and reserves, so two
submissions racing for the last tokens take turns and the second sees the first's reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from burntbeats.billing.models import BillingAccount, LedgerEntry
from burntbeats.models import utcnow

GRANT, PURCHASE, RESERVE, SETTLE, REFUND, ADJUST = "grant", "purchase", "reserve", "settle", "refund", "adjust"
ENTRIES = (GRANT, PURCHASE, RESERVE, SETTLE, REFUND, ADJUST)
CLOSE_REASONS = {
    "succeeded": "The job succeeded: its reservation is spent.",
    "failed": "The job failed: its reservation is refunded.",
    "cancelled": "The job was cancelled: its reservation is refunded.",
}


def insert_for(session: Session, table):
    """INSERT for this session's database, with ON CONFLICT available (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def inserted(session: Session, statement) -> object | None:
    """Run an INSERT ... ON CONFLICT DO NOTHING; the new row's primary key, None when it added nothing (RETURNING:
    the driver's rowcount is not reliable for it on PostgreSQL)."""
    row = session.execute(statement.returning(*statement.table.primary_key.columns)).first()
    return row[0] if row is not None else None


def lock_account(session: Session, user_id: str) -> BillingAccount:
    """The account's billing row (created if missing), locked until the transaction ends."""
    session.execute(insert_for(session, BillingAccount.__table__)
                    .values(user_id=user_id, lock_seq=0, updated_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["user_id"]))
    session.execute(update(BillingAccount).where(BillingAccount.user_id == user_id)
                    .values(lock_seq=BillingAccount.lock_seq + 1).execution_options(synchronize_session=False))
    account = session.get(BillingAccount, user_id, populate_existing=True)
    assert account is not None
    return account


def find_account(session: Session, user_id: str) -> BillingAccount | None:
    return session.get(BillingAccount, user_id)


def append(session: Session, user_id: str, delta: int, entry: str, *, ref: str | None = None,
           job_id: str | None = None, kind: str | None = None, reason: str | None = None) -> int | None:
    """Add one entry; its id, or None when an entry with this `ref` already exists (nothing was added)."""
    assert entry in ENTRIES
    values = dict(user_id=user_id, delta=int(delta), entry=entry, ref=ref, job_id=job_id, kind=kind, reason=reason,
                  created_at=utcnow())
    return inserted(session, insert_for(session, LedgerEntry.__table__).values(**values)
                    .on_conflict_do_nothing(index_elements=["ref"]))


def balance(session: Session, user_id: str) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.delta), 0))
                              .where(LedgerEntry.user_id == user_id)) or 0)


def held(session: Session, user_id: str) -> int:
    """Tokens reserved by the account's jobs that have not ended yet."""
    close = aliased(LedgerEntry)
    open_reserves = select(func.coalesce(func.sum(-LedgerEntry.delta), 0)).where(
        LedgerEntry.user_id == user_id, LedgerEntry.entry == RESERVE,
        ~exists().where(and_(close.job_id == LedgerEntry.job_id, close.entry.in_((SETTLE, REFUND)))))
    return int(session.scalar(open_reserves) or 0)


def reserve(session: Session, user_id: str, job_id: str, kind: str, tokens: int, description: str) -> int | None:
    return append(session, user_id, -int(tokens), RESERVE, ref=f"reserve:{job_id}", job_id=job_id, kind=kind,
                  reason=f"Reserved for {description}.")


def close_job(session: Session, job_id: str, outcome: str) -> bool:
    """The job ended (`outcome` succeeded, failed or cancelled): settle its reservation, or refund exactly it.

    One INSERT ... SELECT from the reservation (nothing when the job reserved nothing, e.g. metering was off);
    its unique ref makes a second close of the same job a no-op. Runs in the transaction that ended the job.
    """
    refund = outcome != "succeeded"
    delta = -LedgerEntry.delta if refund else literal(0)
    rows = select(LedgerEntry.user_id, delta, literal(REFUND if refund else SETTLE), LedgerEntry.job_id,
                  LedgerEntry.kind, literal(f"close:{job_id}"), literal(CLOSE_REASONS.get(outcome, outcome)),
                  literal(utcnow(), LedgerEntry.created_at.type)).where(LedgerEntry.ref == f"reserve:{job_id}")
    columns = ["user_id", "delta", "entry", "job_id", "kind", "ref", "reason", "created_at"]
    return inserted(session, insert_for(session, LedgerEntry.__table__).from_select(columns, rows)
                    .on_conflict_do_nothing(index_elements=["ref"])) is not None


def month_key(now: datetime | None = None) -> str:
    now = now or utcnow()
    return f"{now.year:04d}-{now.month:02d}"


def grant_month(session: Session, user_id: str, plan_id: str, tokens: int, now: datetime | None = None) -> bool:
    """The plan's tokens for this calendar month, once (plans without a Stripe price; paid plans get theirs
    when Stripe reports the invoice paid)."""
    if tokens <= 0:
        return False
    key = month_key(now)
    return append(session, user_id, tokens, GRANT, ref=f"grant:{user_id}:{key}",
                  reason=f"The {plan_id} plan's {tokens} tokens for {key}.") is not None


@dataclass(frozen=True)
class Page:
    entries: list[tuple[LedgerEntry, int]]  # (entry, balance right after it), newest first
    next_before: int | None


def page(session: Session, user_id: str, limit: int, before: int | None = None) -> Page:
    """The account's entries, newest first, `limit` at a time (pass `next_before` for the next page)."""
    query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    rows = list(session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    out: list[tuple[LedgerEntry, int]] = []
    if rows:
        running = int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
            LedgerEntry.user_id == user_id, LedgerEntry.id <= rows[0].id)) or 0)
        for row in rows:
            out.append((row, running))
            running -= row.delta
    return Page(out, rows[-1].id if more else None)
