"""The receipt line a serial came in on

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-07 06:00:00

Issue 17 (docs/inbound.md "Seen twice"): 取消入库 reverses one line's movement of a PO
receipt, but a serial's step named only the receipt and the SKU, so a receipt cancelled on
one of two lines of a SKU still counted all its units of that SKU as in stock, and a unit
of the cancelled line received again was flagged as a second unit.
``serial_sighting.line`` is the unit's line in its receipt (the index of the line, as the
receipt's movements are kept in the lines' order); NULL for the rows before this, which
keep the old rule (all the receipt's movements of the SKU reversed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("serial_sighting", sa.Column("line", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("serial_sighting", "line")
