"""waybills: e-waybill sources per courier, and the waybill outbox (draws and cancels)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waybill_source",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("cp_code", sa.String(32), nullable=False),
        sa.Column("sender", sa.JSON(), nullable=False),
        sa.Column("template_url", sa.String(300), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "carrier"),
    )
    op.create_table(
        "waybill",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("sales_order.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("cp_code", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("parcel", sa.Integer(), nullable=False),
        sa.Column("waybill_code", sa.String(64), nullable=True),
        sa.Column("route", sa.String(200), nullable=True),
        sa.Column("print_data", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_waybill_due", "waybill", ["state", "next_try_at"])
    op.create_index("ix_waybill_order", "waybill", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_waybill_order", table_name="waybill")
    op.drop_index("ix_waybill_due", table_name="waybill")
    op.drop_table("waybill")
    op.drop_table("waybill_source")
