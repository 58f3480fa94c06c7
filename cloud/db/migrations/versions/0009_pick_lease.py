"""pick lease: a released order's wave and the one node that may pick it

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Orders released before this revision have no row: no node offers them for picking
    # until a lead leases them (POST /orders/{order_no}/pick-node; docs/sync.md).
    op.create_table(
        "pick_lease",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("wave", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("changed_by", sa.String(length=80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_pick_lease_wave", "pick_lease", ["wave"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pick_lease_wave", table_name="pick_lease")
    op.drop_table("pick_lease")
