"""The labels of serials the hub issued, asked of the nodes

Revision ID: 0058
Revises: 0057
Create Date: 2026-12-07 06:00:00

Issue 17 (docs/inbound.md "The new serial's label"): when a lead resolves a serial seen
twice by giving one unit a new serial (``HUB-S…``), the hub asks the receiving node of the
unit's warehouse to print its label (``serial.label``). ``serial_label`` keeps each request:
where it was sent, how often, and the node's report that it printed it
(``serial.label_printed``); a re-print after a printed label is a row of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0058"
down_revision = "0057"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serial_label",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("request", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("warehouse", sa.String(64), nullable=False),
        sa.Column("doc", sa.String(64), nullable=False),
        sa.Column("receipt", sa.String(64), nullable=True),
        sa.Column("replaces", sa.String(128), nullable=True),
        sa.Column("reprint", sa.Boolean(), nullable=False),
        sa.Column("asked_by", sa.String(80), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(300), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("printed_by", sa.String(64), nullable=True),
        sa.Column("printer", sa.String(64), nullable=True),
        sa.Column("unconfirmed", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("account_id", "request", name="uq_serial_label_request"),
    )
    op.create_index("ix_serial_label_serial", "serial_label", ["account_id", "serial"])


def downgrade() -> None:
    op.drop_index("ix_serial_label_serial", table_name="serial_label")
    op.drop_table("serial_label")
