"""Serials seen twice: the task of each conflict and the steps' details as sentences

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-07 02:30:00

Issue 17 (docs/inbound.md "Serial trace", "Seen twice"): a unit received under a serial the
hub already has in stock is booked and its conflict recorded; ``serial_sighting.task`` is
the public id of the one ``serial_conflict`` task opened for it (the lead's resolution
closes it: a new serial for the second unit, or one sighting declared a mislabel).
``serial_sighting.said`` is the step's detail as gettext sentences (message id and
parameters), so the dashboard says it in its language; NULL for the rows before this, whose
English ``detail`` the page still matches word by word.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("serial_sighting", sa.Column("task", sa.String(36), nullable=True))
    op.add_column("serial_sighting", sa.Column("said", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("serial_sighting", "said")
    op.drop_column("serial_sighting", "task")
