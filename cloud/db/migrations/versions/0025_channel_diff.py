"""channels: the daily diff of order ids (when due per shop, what the last one found)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 08:00:00

cloud/channels/diff.py compares each shop's full id list of the last days
(taobao.trades.sold.get by created) with channel_order once a day; the runs are channel_run
rows of kind "diff".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_diff",
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("next_diff_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_diff_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_found", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("found_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("shop_id"),
    )


def downgrade() -> None:
    op.drop_table("channel_diff")
