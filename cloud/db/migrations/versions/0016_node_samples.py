"""node_samples: per-node history of backlog, oldest unacked age and lag (one a minute)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node") as batch_op:
        batch_op.add_column(sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "node_sample",
        sa.Column(
            "node_id",
            sa.String(64),
            sa.ForeignKey("node.node_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("backlog", sa.BigInteger(), nullable=True),
        sa.Column("oldest_unacked_age_s", sa.Float(), nullable=True),
        sa.Column("sync_lag_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("node_id", "at"),
    )


def downgrade() -> None:
    op.drop_table("node_sample")
    with op.batch_alter_table("node") as batch_op:
        batch_op.drop_column("sampled_at")
