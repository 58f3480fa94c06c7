"""channel_webhook_count: per shop, how many of its webhooks were refused (per reason) or
came again (duplicates)

Revision ID: 0062
Revises: 0061
Create Date: 2026-12-07 10:00:00

Issue 16 (docs/channels.md, "The Shopify shape", rule 7): the refusals were counted per
reason for the whole hub only (``channel_webhook_rejection``), which a seller's page cannot
show (they are every seller's). A refusal after the signature verified names its shop, and
a duplicate is its shop's; one that no secret verified is nobody's (a shop code may be
several sellers'), counted in ``channel_webhook_rejection`` and ``/metrics`` only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_webhook_count",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer, sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("shop_id", "outcome", name="uq_channel_webhook_count"),
    )


def downgrade() -> None:
    op.drop_table("channel_webhook_count")
