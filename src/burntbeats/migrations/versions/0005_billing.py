"""billing: accounts' plans and Stripe ids, the append-only token ledger, handled Stripe events

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NO_UPDATE = "The token ledger is append-only: add an entry instead of changing one."


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("plan", sa.String(32)),
        sa.Column("stripe_customer_id", sa.String(255), unique=True),
        sa.Column("stripe_subscription_id", sa.String(255)),
        sa.Column("subscription_status", sa.String(32)),
        sa.Column("current_period_end", sa.DateTime(timezone=True)),
        sa.Column("lock_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_billing_accounts_stripe_subscription_id", "billing_accounts", ["stripe_subscription_id"])
    op.create_table(
        "token_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("entry", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(32)),
        sa.Column("kind", sa.String(64)),
        sa.Column("ref", sa.String(255), unique=True),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_token_ledger_user_id", "token_ledger", ["user_id"])
    op.create_index("ix_token_ledger_job_id", "token_ledger", ["job_id"])
    op.create_index("ix_token_ledger_created_at", "token_ledger", ["created_at"])
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION token_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{_NO_UPDATE}'; END $$""")
        op.execute("CREATE TRIGGER token_ledger_no_update BEFORE UPDATE ON token_ledger "
                   "FOR EACH ROW EXECUTE FUNCTION token_ledger_append_only()")
    else:
        op.execute(f"CREATE TRIGGER token_ledger_no_update BEFORE UPDATE ON token_ledger "
                   f"BEGIN SELECT RAISE(ABORT, '{_NO_UPDATE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS token_ledger_no_update ON token_ledger")
        op.execute("DROP FUNCTION IF EXISTS token_ledger_append_only()")
    op.drop_table("stripe_events")
    op.drop_table("token_ledger")
    op.drop_table("billing_accounts")
