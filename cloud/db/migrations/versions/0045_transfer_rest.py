"""inbound: the rest of a transfer shipped short, asked of its pick node

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-06 19:40:00

Issue 17 (docs/inbound.md "Transfers"): a transfer its node shipped short keeps the rest at
the sender; a lead may ask the pick node to ship it as the next shipment, without 冲销出库.
``transfer.rest_asked_by`` / ``rest_asked_at`` say who asked and when, and that the hub waits
for that shipment (``None``: it waits for none).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs on both databases (no table copy, which the foreign keys refuse).
    op.add_column("transfer", sa.Column("rest_asked_by", sa.String(80), nullable=True))
    op.add_column("transfer", sa.Column("rest_asked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("transfer", "rest_asked_at")
    op.drop_column("transfer", "rest_asked_by")
