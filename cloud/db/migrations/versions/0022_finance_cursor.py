"""finance: the poster's cursor per seller and stream of business facts

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 05:30:00

cloud/finance/poster.py reads order history (order_log) and purchase receipts after the
position kept here and posts their entries; the position moves in the same transaction as
the entries, so after a crash the facts are posted again from where the last commit left
(and the entries' natural keys make a second delivery change nothing).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fin_cursor",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("posted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "stream"),
    )


def downgrade() -> None:
    op.drop_table("fin_cursor")
