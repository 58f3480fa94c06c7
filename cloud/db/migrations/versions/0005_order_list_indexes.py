"""order list indexes: newest first, per account and per status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GET /orders sorts by created_at (docs/cloud.md); the old (account_id, status) index
    # left every page to sort all matching orders.
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.drop_index("ix_order_status")
        batch_op.create_index(
            "ix_order_status", ["account_id", "status", "created_at"], unique=False
        )
        batch_op.create_index("ix_order_recent", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.drop_index("ix_order_recent")
        batch_op.drop_index("ix_order_status")
        batch_op.create_index("ix_order_status", ["account_id", "status"], unique=False)
