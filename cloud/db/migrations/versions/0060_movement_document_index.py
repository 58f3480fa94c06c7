"""stock ledger and orders: indexes for a document's movements and a waybill number (issue 15)

Revision ID: 0060
Revises: 0059
Create Date: 2026-12-07 06:00:00

Six queries read a document's movements with the seller: an order's reservations
(cloud/orders/core.py ``reserved_by``), its picks to put back (cloud/orders/workflow.py
``reverse_picks``), its shipments to reverse (cloud/orders/reversals.py), the units a
shipment took for the books (cloud/finance/poster.py ``_shipped_lines``), a transfer's
shipment (cloud/inbound/transfer_moves.py) and the ledger's list by document
(cloud/stock/ledger.py ``movements``). The only index on ``document`` is the column alone,
and SQLite's planner without statistics prefers an index with more equal columns: it read
the account's whole ledger through ``ix_movement_kind_at`` (account, kind) or
``ix_movement_stock`` (account): 0.3–2.4 s a call over 241,200 movements, against
0.01–0.03 ms through the document (docs/benchmarks.md, S31). Statistics
(cloud/db/sqlite_stats.py) are gathered at start and hourly only, and a hub's first hour on
a growing file has none. With the seller, the document, the kind and the time in one index,
each of them has the most equal columns in this index and every plan is the document's,
statistics or not. PostgreSQL keeps choosing by its own statistics; the index serves it the
same way.

The seed of ``guanjia bench dashboard`` on SQLite (100,000 orders, py-spy, S31) spent the
rest of its time in cloud/orders/release.py ``allocate``: a drawn waybill number is checked
free among the seller's orders by ``tracking_number``, which no index held, so each release
read the seller's orders. ``ix_order_tracking`` (seller, tracking number) makes it one look.
"""

from __future__ import annotations

from alembic import op

revision = "0060"
down_revision = "0059"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_order_tracking", "sales_order", ["account_id", "tracking_number"])
    op.create_index(
        "ix_movement_document",
        "stock_movement",
        ["account_id", "document", "kind", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_movement_document", "stock_movement")
    op.drop_index("ix_order_tracking", "sales_order")
