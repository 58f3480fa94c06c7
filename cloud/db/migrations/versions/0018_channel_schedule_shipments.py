"""channels: per-shop schedules and re-scans, courier codes per shop, the shipment outbox

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_shop") as t:
        t.add_column(
            sa.Column("schedule_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        t.add_column(sa.Column("interval_s", sa.Integer(), nullable=False, server_default="300"))
        t.add_column(sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True))
        t.add_column(sa.Column("next_rescan_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("channel_run") as t:
        t.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="download"))
    op.create_table(
        "channel_courier",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("company_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "carrier"),
    )
    op.create_table(
        "channel_shipment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("sales_order.id"), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(140), nullable=False),
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
    op.create_index("ix_channel_shipment_due", "channel_shipment", ["state", "next_try_at"])
    op.create_index("ix_channel_shipment_order", "channel_shipment", ["order_id"])
    op.create_index("ix_channel_order_order", "channel_order", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_channel_order_order", table_name="channel_order")
    op.drop_index("ix_channel_shipment_order", table_name="channel_shipment")
    op.drop_index("ix_channel_shipment_due", table_name="channel_shipment")
    op.drop_table("channel_shipment")
    op.drop_table("channel_courier")
    with op.batch_alter_table("channel_run") as t:
        t.drop_column("kind")
    with op.batch_alter_table("channel_shop") as t:
        t.drop_column("next_rescan_at")
        t.drop_column("next_run_at")
        t.drop_column("interval_s")
        t.drop_column("schedule_enabled")
