"""Billing tables (migration 0005): an account's plan and Stripe ids, the append-only token ledger, the Stripe
events already handled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from burntbeats.models import Base, utcnow


class BillingAccount(Base):
    """One row per account that has used billing: its plan and Stripe ids. Admission locks it (a per-user
    lock: racing submissions of one account take turns), so the balance read under it is the balance."""

    __tablename__ = "billing_accounts"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    plan: Mapped[str | None] = mapped_column(String(32))  # None: DEFAULT_PLAN
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    subscription_status: Mapped[str | None] = mapped_column(String(32))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lock_seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerEntry(Base):
    """One change of an account's tokens (never updated; a trigger refuses UPDATE). The balance is SUM(delta).

    entry: grant (monthly tokens), purchase (a pack), reserve (a job's cost, negative, at submission),
    settle (0: the job succeeded, its reservation is spent), refund (the reservation back: failed, cancelled,
    its worker died), adjust (an operator's change, with a reason). `ref` is unique: a job's reserve and its
    close, a month's grant, a Stripe object each happen once however often they are attempted.
    """

    __tablename__ = "token_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    entry: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[str | None] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(255), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class StripeEvent(Base):
    """A Stripe webhook event handled once: its id is the primary key (a replay conflicts and changes nothing)."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str | None] = mapped_column(Text)
