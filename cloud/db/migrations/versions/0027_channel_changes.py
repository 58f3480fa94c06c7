"""channels: SKU mapping, refunds, changes applied to orders, TMC messages seen

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 08:00:00

Issue 16: later channel changes reach the Guanjia order once (``channel_change`` with a unique
key per shop), refunds are downloaded into ``channel_refund`` (unique per shop and refund id),
pushed messages are de-duplicated by id (``channel_message``), and a shop's ``outer_sku_id``
maps to our SKU code (``channel_sku_map``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_sku_map",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("outer_sku_id", sa.String(120), nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "outer_sku_id"),
    )
    op.create_table(
        "channel_refund",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("refund_id", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("refund_fee", sa.Numeric(18, 2), nullable=False),
        sa.Column("modified", TS, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.UniqueConstraint("shop_id", "refund_id"),
    )
    op.create_index("ix_channel_refund_trade", "channel_refund", ["shop_id", "external_id"])
    op.create_table(
        "channel_change",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("sales_order.id"), nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("change_key", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("shop_id", "change_key"),
    )
    op.create_index("ix_channel_change_order", "channel_change", ["order_id"])
    op.create_index("ix_channel_change_after_sales", "channel_change", ["account_id", "outcome"])
    op.create_table(
        "channel_message",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("topic", sa.String(80), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "message_id"),
    )


def downgrade() -> None:
    op.drop_table("channel_message")
    op.drop_index("ix_channel_change_after_sales", "channel_change")
    op.drop_index("ix_channel_change_order", "channel_change")
    op.drop_table("channel_change")
    op.drop_index("ix_channel_refund_trade", "channel_refund")
    op.drop_table("channel_refund")
    op.drop_table("channel_sku_map")
