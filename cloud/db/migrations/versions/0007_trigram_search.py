"""trigram indexes for substring search on PostgreSQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 21:20:00

The order search (``q``: part of an order number, buyer nick or tracking number) and the
F10 keyword search (``LIKE '%keyword%'`` on a SKU's search text) cannot use a B-tree: on
20,000 orders each search was a 29 ms sequential scan in PostgreSQL, more than the rest of
the request. pg_trgm's GIN indexes answer ``LIKE '%…%'`` for patterns of three characters
or more, Chinese included. SQLite has no such index; there the scan stays (a single-seller
database). PostgreSQL only, and best effort: a server where this role may not create the
extension keeps working, with the scans, and says so.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: (index, table, column); the names end in ``_trgm`` (tests/cloud/test_migrations.py).
INDEXES = (
    ("ix_order_no_trgm", "sales_order", "order_no"),
    ("ix_order_buyer_trgm", "sales_order", "buyer_nick"),
    ("ix_order_tracking_trgm", "sales_order", "tracking_number"),
    ("ix_sku_search_trgm", "sku", "search_text"),
)

_SCHEMA_OF = sa.text(
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_trgm'"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.execute(_SCHEMA_OF).scalar()
    if schema is None:
        # In public, not in the search path's first schema: an extension lives in one schema
        # per database, and a hub's own schema may be dropped with everything in it.
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        except sa.exc.DBAPIError as err:
            logging.getLogger("guanjia.cloud").warning(
                "pg_trgm unavailable (%s); order and SKU searches scan their tables",
                str(err.orig).strip().splitlines()[0],
            )
            return
        schema = bind.execute(_SCHEMA_OF).scalar()
    for name, table, column in INDEXES:
        op.execute(f'CREATE INDEX {name} ON {table} USING gin ({column} "{schema}".gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _ in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
