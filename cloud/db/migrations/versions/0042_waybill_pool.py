"""waybills: each pack node's offline pool of pre-drawn e-waybill numbers per courier

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-06 16:40:00

Issue 16 (docs/channels.md "The offline pool"): ``waybill_pool`` is how many numbers a node
keeps per courier, ``pool_waybill`` every number drawn for a pool and where it is (being
drawn, sent to the node, used on an order). Nothing exists before: no pool, no rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waybill_pool",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "node_id", "carrier"),
    )
    op.create_table(
        "pool_waybill",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("cp_code", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("waybill_code", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("sales_order.id"), nullable=True),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint("cp_code", "waybill_code", name="uq_pool_waybill_code"),
    )
    op.create_index(
        "ix_pool_waybill_pool", "pool_waybill", ["account_id", "node_id", "carrier", "state"]
    )
    op.create_index("ix_pool_waybill_due", "pool_waybill", ["state", "next_try_at"])


def downgrade() -> None:
    op.drop_index("ix_pool_waybill_due", table_name="pool_waybill")
    op.drop_index("ix_pool_waybill_pool", table_name="pool_waybill")
    op.drop_table("pool_waybill")
    op.drop_table("waybill_pool")
