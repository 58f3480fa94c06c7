"""settlement: imported platform settlement bills and their rows

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 10:30:00

Issue 18, platform settlement reconciliation (cloud/finance/settlements.py). A file is
known by its hash per seller, a row by its 账务流水号 per seller, a sale by its order once:
importing the same bill twice, or two bills sharing a row, can never post twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)


def upgrade() -> None:
    op.create_table(
        "settlement_bill",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("payment_account", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=True),
        sa.Column("period_to", sa.Date(), nullable=True),
        sa.Column("opening", MONEY, nullable=False),
        sa.Column("closing", MONEY, nullable=False),
        sa.Column("total_in", MONEY, nullable=False),
        sa.Column("total_out", MONEY, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("posted", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(120), nullable=False),
        sa.UniqueConstraint("account_id", "file_hash", name="uq_settlement_bill_hash"),
        sa.UniqueConstraint("public_id", name="uq_settlement_bill_public"),
    )
    op.create_index("ix_settlement_bill_recent", "settlement_bill", ["account_id", "imported_at"])
    op.create_table(
        "settlement_row",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("bill_id", sa.Integer(), sa.ForeignKey("settlement_bill.id"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("flow_no", sa.String(64), nullable=False),
        sa.Column("business_no", sa.String(64), nullable=False),
        sa.Column("merchant_order_no", sa.String(64), nullable=False),
        sa.Column("item_name", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counterparty", sa.String(120), nullable=False),
        sa.Column("amount_in", MONEY, nullable=False),
        sa.Column("amount_out", MONEY, nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("pay_channel", sa.String(64), nullable=False),
        sa.Column("business_type", sa.String(64), nullable=False),
        sa.Column("remark", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=True),
        sa.Column("match_key", sa.String(80), nullable=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("account_id", "flow_no", name="uq_settlement_row_flow"),
        sa.UniqueConstraint("account_id", "match_key", name="uq_settlement_row_match"),
    )
    op.create_index("ix_settlement_row_bill", "settlement_row", ["bill_id", "line_no"])
    op.create_index("ix_settlement_row_state", "settlement_row", ["account_id", "state"])


def downgrade() -> None:
    op.drop_table("settlement_row")
    op.drop_table("settlement_bill")
