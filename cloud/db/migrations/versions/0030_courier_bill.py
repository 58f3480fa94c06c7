"""courier bills: rate cards, bills imported (once per file), their lines and flags

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 10:30:00

Issue 18, courier bill reconciliation (cloud/finance/courier_bills.py, docs/finance.md).
A bill file's SHA-256 is unique per seller, so the same file imported twice is refused by
the database too, whoever writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
LENGTH = sa.Numeric(8, 1)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "courier_rate_card",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("first_g", sa.Integer(), nullable=False),
        sa.Column("step_g", sa.Integer(), nullable=False),
        sa.Column("precision_g", sa.Integer(), nullable=False),
        sa.Column("volumetric_divisor", sa.Integer(), nullable=True),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "carrier"),
        sa.CheckConstraint("first_g > 0 AND step_g > 0 AND precision_g > 0", name="ck_rate_card_g"),
        sa.CheckConstraint(
            "volumetric_divisor IS NULL OR volumetric_divisor > 0", name="ck_rate_card_divisor"
        ),
    )
    op.create_table(
        "courier_bill",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("billed_total", MONEY, nullable=False),
        sa.Column("accepted_total", MONEY, nullable=False),
        sa.Column("disputed_total", MONEY, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("imported_by", sa.String(80), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.Column("accepted_by", sa.String(80), nullable=True),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=True),
        sa.UniqueConstraint("account_id", "file_hash", name="uq_courier_bill_file"),
        sa.CheckConstraint("state IN ('open', 'accepted')", name="ck_courier_bill_state"),
    )
    op.create_index("ix_courier_bill_recent", "courier_bill", ["account_id", "imported_at"])
    op.create_table(
        "courier_bill_line",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("bill_id", sa.Integer(), sa.ForeignKey("courier_bill.id"), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("destination", sa.String(120), nullable=False),
        sa.Column("billed_g", sa.Integer(), nullable=False),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("length_cm", LENGTH, nullable=True),
        sa.Column("width_cm", LENGTH, nullable=True),
        sa.Column("height_cm", LENGTH, nullable=True),
        sa.Column("order_no", sa.String(64), nullable=True),
        sa.Column("weighed_g", sa.Integer(), nullable=True),
        sa.Column("charged_g", sa.Integer(), nullable=True),
        sa.Column("expected_fee", MONEY, nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("disputed", MONEY, nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("credited", MONEY, nullable=True),
        sa.Column("resolved_by", sa.String(80), nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column(
            "resolution_entry_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=True
        ),
        sa.UniqueConstraint("bill_id", "row_no", name="uq_courier_bill_line_row"),
        sa.CheckConstraint(
            "disputed >= 0 AND disputed <= fee", name="ck_courier_bill_line_disputed"
        ),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('credited', 'paid', 'split')",
            name="ck_courier_bill_line_resolution",
        ),
    )
    op.create_index(
        "ix_courier_bill_line_tracking", "courier_bill_line", ["account_id", "tracking_number"]
    )


def downgrade() -> None:
    op.drop_index("ix_courier_bill_line_tracking", "courier_bill_line")
    op.drop_table("courier_bill_line")
    op.drop_index("ix_courier_bill_recent", "courier_bill")
    op.drop_table("courier_bill")
    op.drop_table("courier_rate_card")
