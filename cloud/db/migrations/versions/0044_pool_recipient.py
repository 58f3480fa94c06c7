"""waybills: a used pool number's courier record corrected to the order's recipient

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-06 19:30:00

Issue 16 (docs/channels.md "The offline pool"): a pool number is drawn against a placeholder
parcel; once a node prints it on an order the hub calls ``cainiao.waybill.ii.update`` with the
real recipient. ``recipient_state`` is where that call is: NULL (nothing to correct), ``pending``
(to call, retried with the row's attempts and backoff), ``done``, ``failed`` (the courier
refused; ``error`` says why). The pool's new states (``void``, ``releasing``, ``cancel``,
``cancelled``) need no column: ``state`` is a string.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pool_waybill", sa.Column("recipient_state", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pool_waybill") as batch:
        batch.drop_column("recipient_state")
