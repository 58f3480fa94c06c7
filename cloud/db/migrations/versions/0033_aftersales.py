"""after-sales: requests (售后单), their lines, history, refund instructions, settings

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 10:30:00

Issue 17, returns and exchanges (cloud/aftersales/, docs/inbound.md "Returns and
exchanges"). Tables in cloud/db/aftersales.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 2)


def _account() -> sa.Column[int]:
    return sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "aftersales_request",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _account(),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=True),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("sales_order.id"), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("return_waybill", sa.String(64), nullable=True),
        sa.Column("receipt_id", sa.String(64), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("movement_ids", sa.JSON(), nullable=True),
        sa.Column("exchange_order_no", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.UniqueConstraint("account_id", "number"),
        sa.UniqueConstraint("account_id", "source_key", name="uq_aftersales_source"),
        sa.UniqueConstraint("account_id", "receipt_id", name="uq_aftersales_receipt"),
        sa.CheckConstraint(
            "kind IN ('return', 'exchange', 'refund_only')", name="ck_aftersales_kind"
        ),
    )
    op.create_index(
        "ix_aftersales_list", "aftersales_request", ["account_id", "status", "created_at"]
    )
    op.create_index("ix_aftersales_order", "aftersales_request", ["account_id", "order_no"])
    op.create_table(
        "aftersales_line",
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("aftersales_request.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line_no", sa.Integer(), nullable=False),
        _account(),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("sales_order.id"), nullable=False),
        sa.Column("order_line_id", sa.String(64), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("exchange_sku_code", sa.String(120), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("sellable", sa.Integer(), nullable=False),
        sa.Column("damaged", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("damage_reason", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("request_id", "line_no"),
        sa.CheckConstraint("qty >= 1", name="ck_aftersales_line_qty"),
    )
    op.create_index(
        "ix_aftersales_line_order",
        "aftersales_line",
        ["account_id", "order_id", "order_line_id"],
    )
    op.create_table(
        "aftersales_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _account(),
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("aftersales_request.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_aftersales_log_request", "aftersales_log", ["request_id", "id"])
    op.create_table(
        "aftersales_refund",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _account(),
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("aftersales_request.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("request_id", "line_no"),
        sa.CheckConstraint("amount >= 0", name="ck_aftersales_refund_amount"),
    )
    op.create_index("ix_aftersales_refund_account", "aftersales_refund", ["account_id", "status"])
    op.create_table(
        "aftersales_setting",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), primary_key=True),
        sa.Column(
            "damaged_warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=True
        ),
        sa.Column("exchange_at", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.CheckConstraint(
            "exchange_at IN ('received', 'approval')", name="ck_aftersales_exchange_at"
        ),
    )


def downgrade() -> None:
    for table in (
        "aftersales_setting",
        "aftersales_refund",
        "aftersales_log",
        "aftersales_line",
        "aftersales_request",
    ):
        op.drop_table(table)
