"""shopify: webhook events (de-duplicated by event id) and the count of refused webhooks

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_webhook_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer, sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("shop_id", "event_id", name="uq_channel_webhook_event"),
    )
    op.create_index(
        "ix_channel_webhook_event_due", "channel_webhook_event", ["shop_id", "state", "id"]
    )
    op.create_table(
        "channel_webhook_rejection",
        sa.Column("reason", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_path", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_webhook_rejection")
    op.drop_index("ix_channel_webhook_event_due", table_name="channel_webhook_event")
    op.drop_table("channel_webhook_event")
