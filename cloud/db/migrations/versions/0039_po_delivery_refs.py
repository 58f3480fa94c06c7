"""inbound: a purchase order's delivery references (ASN numbers, courier waybills)

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-06 14:40:00

Issue 17 (docs/inbound.md "ASN scan"): ``purchase_order.delivery_refs`` holds the supplier's
ASN numbers and the couriers' waybills announced for the PO, sent to the nodes in
``po.release`` so the receiving station opens the PO by one. Existing POs get none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite's batch mode would copy the table, which
    # its foreign keys (purchase_order_line, purchase_receipt) refuse.
    op.add_column(
        "purchase_order",
        sa.Column("delivery_refs", sa.JSON(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) for the same reason: no table copy.
    op.drop_column("purchase_order", "delivery_refs")
