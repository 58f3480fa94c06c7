"""the order list's indexes in its own order: (…, created_at DESC, order_no)

Revision ID: 0070
Revises: 0069
Create Date: 2026-12-07 23:40:00

Issue 20 (docs/benchmarks.md "S36"). The order list (``cloud/orders/views.py`` ``page``:
the API's list, the dashboard's list and the audit queue) is ordered newest first and then by
order number. The indexes of 0005 held (account_id[, status], created_at) only, and the orders
of one download share a timestamp, so each page was sorted again: SQLite in a temporary B-tree
("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY", 0.83 ms per page of 50 at offsets up to 450
over 20,000 orders; 0.15 ms with these), PostgreSQL with an Incremental Sort. With order_no
after ``created_at DESC`` each walk reads the orders in the page's order and stops at the page.
Same rows in the same order. A range of ``created_at`` is read from them as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0070"
down_revision = "0069"
branch_labels = None
depends_on = None

_NEW: dict[str, list[str | sa.TextClause]] = {
    "ix_order_status": ["account_id", "status", sa.text("created_at DESC"), "order_no"],
    "ix_order_recent": ["account_id", sa.text("created_at DESC"), "order_no"],
}
_OLD: dict[str, list[str | sa.TextClause]] = {
    "ix_order_status": ["account_id", "status", "created_at"],
    "ix_order_recent": ["account_id", "created_at"],
}


def _replace(columns: dict[str, list[str | sa.TextClause]]) -> None:
    for name, cols in columns.items():
        op.drop_index(name, table_name="sales_order")
        op.create_index(name, "sales_order", cols)


def upgrade() -> None:
    _replace(_NEW)


def downgrade() -> None:
    _replace(_OLD)
