"""serial trace: serial_sighting

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 13:45:00

Issue 17, barcode tracking (全程条码跟踪; cloud/stock/serials.py, docs/inbound.md "Serial
trace"). Facts synced before this revision are not read back into it: a serial's trace
starts with the facts that arrive after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serial_sighting",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("warehouse", sa.String(64), nullable=True),
        sa.Column("bin", sa.String(64), nullable=True),
        sa.Column("doc", sa.String(64), nullable=False),
        sa.Column("receipt", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(300), nullable=True),
        sa.Column("conflict", sa.Text(), nullable=True),
    )
    op.create_index("ix_serial_sighting_serial", "serial_sighting", ["account_id", "serial", "at"])


def downgrade() -> None:
    op.drop_table("serial_sighting")
