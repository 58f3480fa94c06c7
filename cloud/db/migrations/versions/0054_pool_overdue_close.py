"""waybill_pool_overdue tasks close by themselves; Shopify shops with several locations

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-07 02:40:00

Issue 16 (docs/channels.md "A node that never answers"): the ``waybill_pool_overdue`` task the
pool drain opens for a node that has not answered a give-back was never closed: it stayed
open after the node answered (gave the numbers back or reported them printed) or a lead gave
them back by force. Now it closes by itself once none of its numbers is still unanswered.

- ``pool_waybill.overdue_task_id``: the task that counted the number as overdue, so the hub
  knows when every number of a task is answered and what became of each (the closing line
  says how many were given back by the node, printed, given back by force).
- ``task.resolution_message`` / ``task.resolution_params``: the gettext message id and
  parameters of a resolution the hub wrote (as ``message``/``params`` for the detail,
  migration 0038), so the tasks page says it in its language; NULL for a person's words.

Several Shopify locations (docs/channels.md "Several Shopify locations"):

- ``channel_shop_location``: per shop, which of our warehouses each Shopify location is
  (the location id checked against the shop's ``locations.json`` when saved);
- ``channel_stock_location``: the push state (P, quantity, pending change) of one SKU at one
  location, beside the item's, which stays the dirty mark and the lease.

Tasks opened before this revision have no numbers linked to them: they are linked here
(numbers ``overdue_at`` at the task's ``created_at`` on that node, the courier named in its
English detail), so they close
like new ones once answered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pool_waybill") as batch:
        batch.add_column(sa.Column("overdue_task_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_pool_waybill_overdue_task", "task", ["overdue_task_id"], ["id"]
        )
    op.add_column("task", sa.Column("resolution_message", sa.Text(), nullable=True))
    op.add_column("task", sa.Column("resolution_params", sa.JSON(), nullable=True))
    # The pool drain stamped a task's numbers ``overdue_at`` with the task's own ``created_at``
    # (cloud/channels/pool_force.py before this revision): that links them.
    op.execute(
        "UPDATE pool_waybill SET overdue_task_id = ("
        " SELECT MIN(t.id) FROM task t WHERE t.kind = 'waybill_pool_overdue'"
        " AND t.account_id = pool_waybill.account_id AND t.node_id = pool_waybill.node_id"
        " AND t.created_at = pool_waybill.overdue_at"
        " AND t.detail LIKE '% ' || pool_waybill.carrier || ' e-waybill numbers %')"
        " WHERE overdue_at IS NOT NULL"
    )

    op.create_table(
        "channel_shop_location",
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), primary_key=True),
        sa.Column("warehouse", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("location_id", sa.String(32), nullable=False),
        sa.Column("location_name", sa.String(200), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("shop_id", "location_id", name="uq_channel_shop_location_location"),
    )
    op.create_table(
        "channel_stock_location",
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("channel_stock_item.id"), primary_key=True
        ),
        sa.Column("location_id", sa.String(32), primary_key=True),
        sa.Column("base", sa.BigInteger(), nullable=True),
        sa.Column("target", sa.BigInteger(), nullable=True),
        sa.Column("channel_qty", sa.BigInteger(), nullable=True),
        sa.Column("pending_delta", sa.BigInteger(), nullable=True),
        sa.Column("pending_key", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_stock_location")
    op.drop_table("channel_shop_location")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("resolution_params")
        batch.drop_column("resolution_message")
    with op.batch_alter_table("pool_waybill") as batch:
        batch.drop_constraint("fk_pool_waybill_overdue_task", type_="foreignkey")
        batch.drop_column("overdue_task_id")
