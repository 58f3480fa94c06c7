"""waybills: when a pool's numbers were asked back, overdue, and given back by force

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-06 23:00:00

Issue 16 (docs/channels.md "A node that never answers"): a node asked for its unused pool
numbers back (``releasing``) may never answer (destroyed, stolen, its store lost). Three
timestamps on ``pool_waybill``, NULL until they happen:

- ``asked_at``: when the hub asked the node for the number back (``waybill.pool_release``);
  the wait before a forced give-back and the overdue task are counted from it.
- ``overdue_at``: when the scheduler opened the ``waybill_pool_overdue`` task for it (once).
- ``forced_at``: when a lead gave it back without the node's word (cancelled at the courier);
  a late print of it from that node is refused on ingest and becomes a task.

Numbers already ``releasing`` before this migration get ``asked_at`` = their ``next_try_at``
(the last time the hub touched the row), so they can be forced after the wait too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None

COLUMNS = ("asked_at", "overdue_at", "forced_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("pool_waybill", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE pool_waybill SET asked_at = next_try_at WHERE state = 'releasing'")


def downgrade() -> None:
    with op.batch_alter_table("pool_waybill") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
