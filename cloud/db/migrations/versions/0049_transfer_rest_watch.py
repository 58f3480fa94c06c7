"""inbound: a transfer's rest nobody picks is shown to a lead once

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-06 23:00:00

Issue 17 (docs/inbound.md "A rest nobody picks"): the rest of a short transfer asked of its
pick node and not shipped within ``GUANJIA_TRANSFER_REST_WAIT_S`` opens one
``transfer_rest_overdue`` task. ``transfer.rest_overdue_at`` is when that task was opened
(``None``: not yet), so several hub workers ticking at once open it once; a new ask clears it.

Also an index on ``serial_sighting (account_id, doc, kind)``: the serials of a transfer that
arrived, read for each ``transfer.release`` once its pick scanned serials
(cloud/inbound/transfer_serials.py, docs/inbound.md "Serials of a transfer's units").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (no table copy, which the foreign keys refuse).
    op.add_column(
        "transfer", sa.Column("rest_overdue_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_serial_sighting_doc", "serial_sighting", ["account_id", "doc", "kind"])


def downgrade() -> None:
    op.drop_index("ix_serial_sighting_doc", table_name="serial_sighting")
    op.drop_column("transfer", "rest_overdue_at")
