"""sku search on SQLite: an index of (account_id, sku_code, search_text)

Revision ID: 0069
Revises: 0068
Create Date: 2026-12-07 23:35:00

Issue 20 (docs/benchmarks.md "S36"). The F10 search (``cloud/catalogue/skus.py``
``page_select``: the SKU search, and the page of the F9/F10 stock views) walks the account's
SKUs in ``sku_code`` order and tests every keyword with ``instr(search_text, …)`` until it has
a page. SQLite walked the primary key's index and looked each SKU up in the table to read its
``search_text``: for a brand whose codes sort last, thousands of table lookups per search.
With ``search_text`` in an index beside the key, the walk tests the keywords on the index
alone (https://www.sqlite.org/queryplanner.html#covidx) and reads the table only for the
page's own rows: 1.53 → 0.71 ms of SQLite per search on average over the bench's keywords
(5,000 SKUs). Same rows in the same order.

PostgreSQL: nothing. A B-tree entry there is limited to about a third of a page (2,704
bytes), and ``search_text`` holds every barcode of a SKU, so it has no bound; it searches by
its own plan.
"""

from __future__ import annotations

from alembic import op

revision = "0069"
down_revision = "0068"
branch_labels = None
depends_on = None

#: Not in the models (they describe what both databases have): tests/cloud/db/test_migrations.py.
NAME = "ix_sku_search_sqlite"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE INDEX {NAME} ON sku (account_id, sku_code, search_text)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX {NAME}")
