"""inbound: transfers shipped from the sender's node (pick lease, shipments booked once)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06 16:45:00

Issue 17 (docs/inbound.md "Transfers"): an audited transfer is released to a pick node of
its sending warehouse (``transfer.outbound``); ``transfer.pick_node`` is that node (its
pick lease, as an order's). ``transfer_shipment`` keeps every shipment a node reported
(``transfer.shipped``) under the node's shipment id, so one sent again books nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (no table copy, which the foreign keys refuse).
    op.add_column("transfer", sa.Column("pick_node", sa.String(64), nullable=True))
    op.create_table(
        "transfer_shipment",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shipment_id", sa.String(64), nullable=False),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfer.id"), nullable=False),
        sa.Column("shipment", sa.Integer(), nullable=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("movement_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", "shipment_id"),
    )
    op.create_index("ix_transfer_shipment_doc", "transfer_shipment", ["transfer_id"])


def downgrade() -> None:
    op.drop_index("ix_transfer_shipment_doc", "transfer_shipment")
    op.drop_table("transfer_shipment")
    op.drop_column("transfer", "pick_node")
