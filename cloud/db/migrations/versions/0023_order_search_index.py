"""order search index on SQLite: an FTS5 trigram table over the searched columns

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 05:30:00

Issue 20: on SQLite every text search of the order list scanned all orders (LIKE '%…%' has
no index there; PostgreSQL has pg_trgm's GIN indexes, migration 0007). SQLite's FTS5 with
the ``trigram`` tokenizer (SQLite ≥ 3.34, https://www.sqlite.org/fts5.html#the_trigram_tokenizer)
answers a substring of three characters or more from an index. ``cloud/orders/views.py``
uses it to find candidate orders and re-checks each with the same LIKE as before, so the
results do not change.

The FTS rowid is not ``sales_order``'s own rowid: VACUUM may renumber the rowids of a table
without an INTEGER PRIMARY KEY (https://www.sqlite.org/lang_vacuum.html), which would leave
an external-content index pointing at the wrong orders. ``order_search_key`` gives each order
a stable number instead. Triggers keep both in step with ``sales_order`` whoever writes (the
one write path, a bulk insert, a script), so the index cannot drift after arrival, patch,
split or merge.

PostgreSQL: nothing (its trigram indexes exist since 0007).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_COLUMNS = ("order_no", "buyer_nick", "tracking_number")
_NEW = ", ".join(f"new.{c}" for c in _COLUMNS)
_KEY_OF = "(SELECT k FROM order_search_key WHERE order_id = {}.id)"

_CREATE = (
    "CREATE TABLE order_search_key (k INTEGER PRIMARY KEY, order_id VARCHAR(36) NOT NULL UNIQUE)",
    # order_id is stored (UNINDEXED: not tokenized) so a search reads ids from the index alone.
    "CREATE VIRTUAL TABLE order_search USING fts5("
    f"order_id UNINDEXED, {', '.join(_COLUMNS)}, tokenize = 'trigram')",
    "CREATE TRIGGER order_search_ai AFTER INSERT ON sales_order BEGIN"
    " INSERT INTO order_search_key (order_id) VALUES (new.id);"
    f" INSERT INTO order_search (rowid, order_id, {', '.join(_COLUMNS)})"
    f" VALUES ({_KEY_OF.format('new')}, new.id, {_NEW});"
    " END",
    f"CREATE TRIGGER order_search_au AFTER UPDATE OF {', '.join(_COLUMNS)} ON sales_order"
    " BEGIN"
    f" UPDATE order_search SET {', '.join(f'{c} = new.{c}' for c in _COLUMNS)}"
    f" WHERE rowid = {_KEY_OF.format('new')};"
    " END",
    "CREATE TRIGGER order_search_ad AFTER DELETE ON sales_order BEGIN"
    f" DELETE FROM order_search WHERE rowid = {_KEY_OF.format('old')};"
    " DELETE FROM order_search_key WHERE order_id = old.id;"
    " END",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for sql in _CREATE:
        bind.execute(sa.text(sql))
    # Existing orders, in the order they arrived (numbers only need to be unique).
    bind.execute(
        sa.text("INSERT INTO order_search_key (order_id) SELECT id FROM sales_order ORDER BY rowid")
    )
    bind.execute(
        sa.text(
            f"INSERT INTO order_search (rowid, order_id, {', '.join(_COLUMNS)})"
            f" SELECT k.k, o.id, {', '.join(f'o.{c}' for c in _COLUMNS)}"
            " FROM order_search_key k JOIN sales_order o ON o.id = k.order_id"
        )
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in ("order_search_ai", "order_search_au", "order_search_ad"):
        bind.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    bind.execute(sa.text("DROP TABLE IF EXISTS order_search"))
    bind.execute(sa.text("DROP TABLE IF EXISTS order_search_key"))
