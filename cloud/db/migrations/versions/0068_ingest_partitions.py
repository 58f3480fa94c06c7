"""ingest_worker, ingest_partition: hub ingest workers lease partitions of the nodes' events

Revision ID: 0068
Revises: 0066
Create Date: 2026-12-07 13:15:00

Issue 20 (docs/sync.md, "Partitions"): each node publishes its batches on a partition of the
events topic derived from its id, and each hub ingest worker subscribes only to the
partitions it leases here, so all batches of one node reach one worker, in order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0068"
down_revision = "0066"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_worker",
        sa.Column("worker", sa.String(128), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ingest_partition",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taker", sa.String(128), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ingest_partition")
    op.drop_table("ingest_worker")
