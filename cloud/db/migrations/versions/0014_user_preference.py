"""the dashboard: user preferences (the F10 columns and their order); indexes for the home figures

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    op.create_index("ix_order_log_to_status_at", "order_log", ["to_status", "at"])
    op.create_index("ix_order_hold_status", "sales_order", ["account_id", "on_hold", "status"])


def downgrade() -> None:
    op.drop_index("ix_order_hold_status", table_name="sales_order")
    op.drop_index("ix_order_log_to_status_at", table_name="order_log")
    op.drop_table("user_preference")
