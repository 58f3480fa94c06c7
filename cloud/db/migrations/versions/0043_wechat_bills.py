"""wechat bills: the hub's daily WeChat Pay bill fetch and the fund-flow bills reconciled

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-06 19:30:00

Issue 18 (docs/finance.md "WeChat Pay bills fetched by the hub"): ``wechat_bill_job`` per
(seller, merchant number) with its cursor and lease; ``fundflow_bill`` and ``fundflow_row``,
a fund-flow bill (资金账单) and its movements with the trade-bill row each matched. Nothing
exists before: no job, no fund-flow bill.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2, asdecimal=True)


def upgrade() -> None:
    op.create_table(
        "wechat_bill_job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("mchid", sa.String(32), nullable=False),
        sa.Column("serial_no", sa.String(64), nullable=False),
        sa.Column("api_url", sa.String(300), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("platform_key", sa.Text(), nullable=False),
        sa.Column("platform_serial", sa.String(64), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "mchid", name="uq_wechat_bill_job_mch"),
    )
    op.create_index("ix_wechat_bill_job_due", "wechat_bill_job", ["enabled", "next_run_at"])
    op.create_table(
        "fundflow_bill",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=True),
        sa.Column("period_to", sa.Date(), nullable=True),
        sa.Column("opening", MONEY, nullable=False),
        sa.Column("closing", MONEY, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "file_hash", name="uq_fundflow_bill_hash"),
        sa.UniqueConstraint("public_id", name="uq_fundflow_bill_public"),
    )
    op.create_table(
        "fundflow_row",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("bill_id", sa.Integer(), sa.ForeignKey("fundflow_bill.id"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("flow_no", sa.String(64), nullable=False),
        sa.Column("business_no", sa.String(64), nullable=False),
        sa.Column("business_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_in", MONEY, nullable=False),
        sa.Column("amount_out", MONEY, nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column(
            "settlement_row_id", sa.Integer(), sa.ForeignKey("settlement_row.id"), nullable=True
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "flow_no", name="uq_fundflow_row_flow"),
        sa.UniqueConstraint("account_id", "settlement_row_id", name="uq_fundflow_row_match"),
    )
    op.create_index("ix_fundflow_row_bill", "fundflow_row", ["bill_id", "line_no"])


def downgrade() -> None:
    op.drop_index("ix_fundflow_row_bill", table_name="fundflow_row")
    op.drop_table("fundflow_row")
    op.drop_table("fundflow_bill")
    op.drop_index("ix_wechat_bill_job_due", table_name="wechat_bill_job")
    op.drop_table("wechat_bill_job")
