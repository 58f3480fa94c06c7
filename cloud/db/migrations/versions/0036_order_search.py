"""order search: an index of our own for two-character keywords with Chinese in them

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06 13:40:00

Issue 20: a trigram index cannot answer a keyword of two characters — SQLite's FTS5
``trigram`` tokenizer finds nothing for it (https://www.sqlite.org/fts5.html#the_trigram_tokenizer)
and pg_trgm extracts no trigram from ``LIKE '%张三%'``, so its GIN index reads every entry
(https://www.postgresql.org/docs/current/pgtrgm.html#PGTRGM-INDEX). Two characters is a
whole Chinese name or nick (张三, 李四), so such searches scanned every order of the account.

``order_search_gram`` holds, for each order, every two-character piece of its order number,
buyer nick and tracking number that has a character beyond ASCII in it (one row per piece
and order; an all-ASCII value adds nothing, so the table stays small: order and tracking
numbers are ASCII). A two-character ASCII keyword still scans — it is common enough in
those numbers that the newest-first walk meets a page of matches soon.

Triggers keep it in step with ``sales_order`` whoever writes, as 0023 does for FTS5. On
SQLite a trigger cannot use a CTE, so the positions come from ``order_search_pos``
(1 … ``POSITIONS``); a value longer than that (the columns are at most 120 characters
long, and PostgreSQL enforces it, SQLite does not) gets the empty piece ``''``, which every
lookup also reads, so it is still found. SQLite's pieces are stored lower-cased (its
``lower`` folds ASCII letters only, as its ``LIKE`` does); PostgreSQL's as they are (its
``LIKE`` tells case).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

#: Positions for SQLite's triggers: the longest searched column is 120 characters.
POSITIONS = 128
_COLUMNS = ("order_no", "buyer_nick", "tracking_number")


def _sqlite_pieces(r: str, source: str = "") -> str:
    """SELECTs of (account, piece, order) for the rows ``r`` (``new`` in a trigger; with
    ``source`` the table they are read from), one per column, UNION-ed."""
    parts = [
        f"SELECT {r}.account_id, lower(substr({r}.{c}, n, 2)), {r}.id"
        f" FROM {source}order_search_pos WHERE n < length({r}.{c})"
        # More bytes than characters: the value has a character beyond ASCII.
        f" AND length(CAST({r}.{c} AS BLOB)) > length({r}.{c}) AND length({r}.{c}) <= {POSITIONS}"
        f" AND (unicode(substr({r}.{c}, n, 1)) > 127 OR unicode(substr({r}.{c}, n + 1, 1)) > 127)"
        for c in _COLUMNS
    ]
    longest = ", ".join(f"coalesce(length({r}.{c}), 0)" for c in _COLUMNS)
    from_ = f" FROM {source.rstrip(', ')}" if source else ""
    parts.append(f"SELECT {r}.account_id, '', {r}.id{from_} WHERE max({longest}) > {POSITIONS}")
    return (
        "INSERT OR IGNORE INTO order_search_gram (account_id, gram, order_id) "
        + " UNION ".join(parts)
        + ";"
    )


_SQLITE = (
    "CREATE TABLE order_search_pos (n INTEGER PRIMARY KEY)",
    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s"
    f" WHERE n < {POSITIONS}) INSERT INTO order_search_pos (n) SELECT n FROM s",
    "CREATE TRIGGER order_gram_ai AFTER INSERT ON sales_order BEGIN "
    + _sqlite_pieces("new")
    + " END",
    f"CREATE TRIGGER order_gram_au AFTER UPDATE OF {', '.join(_COLUMNS)} ON sales_order BEGIN"
    " DELETE FROM order_search_gram WHERE order_id = old.id; " + _sqlite_pieces("new") + " END",
    "CREATE TRIGGER order_gram_ad AFTER DELETE ON sales_order BEGIN"
    " DELETE FROM order_search_gram WHERE order_id = old.id;"
    " END",
    # The orders already there.
    _sqlite_pieces("o", "sales_order AS o, "),
)


def _pg_pieces(rows: str) -> str:
    """INSERT of the pieces of ``rows`` (a table of sales_order rows) on PostgreSQL."""
    return (
        "INSERT INTO order_search_gram (account_id, gram, order_id)"
        " SELECT DISTINCT o.account_id, substr(v, n, 2), o.id"
        f" FROM {rows} AS o,"
        " unnest(ARRAY[o.order_no, o.buyer_nick, o.tracking_number]) AS v,"
        " generate_series(1, char_length(v) - 1) AS n"
        " WHERE octet_length(v) > char_length(v)"
        " AND (ascii(substr(v, n, 1)) > 127 OR ascii(substr(v, n + 1, 1)) > 127)"
        " ON CONFLICT DO NOTHING"
    )


# PostgreSQL: inserts and deletes once per statement, over its transition table (a COPY of
# thousands of arriving orders runs the function once, not once per row: per row it cost
# 120 µs an order with a Chinese nick); an UPDATE OF some columns may not have a transition
# table (CREATE TRIGGER: "transition tables cannot be specified for triggers with column
# lists"), so that one is per row (a nick or tracking number changed: one order at a time).
_POSTGRES = (
    "CREATE FUNCTION order_search_grams_added() RETURNS trigger LANGUAGE plpgsql AS $$"
    f" BEGIN {_pg_pieces('added_orders')}; RETURN NULL; END $$",
    "CREATE FUNCTION order_search_grams_removed() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN DELETE FROM order_search_gram AS g USING removed_orders AS o"
    " WHERE g.order_id = o.id; RETURN NULL; END $$",
    "CREATE FUNCTION order_search_grams_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN DELETE FROM order_search_gram WHERE order_id = OLD.id;"
    f" {_pg_pieces('(SELECT NEW.*)')}; RETURN NULL; END $$",
    "CREATE TRIGGER order_gram_ai AFTER INSERT ON sales_order"
    " REFERENCING NEW TABLE AS added_orders"
    " FOR EACH STATEMENT EXECUTE FUNCTION order_search_grams_added()",
    "CREATE TRIGGER order_gram_ad AFTER DELETE ON sales_order"
    " REFERENCING OLD TABLE AS removed_orders"
    " FOR EACH STATEMENT EXECUTE FUNCTION order_search_grams_removed()",
    f"CREATE TRIGGER order_gram_au AFTER UPDATE OF {', '.join(_COLUMNS)} ON sales_order"
    " FOR EACH ROW EXECUTE FUNCTION order_search_grams_changed()",
    # The orders already there.
    _pg_pieces("sales_order"),
)


def upgrade() -> None:
    bind = op.get_bind()
    # Not a model: an index the database keeps by itself (as 0023's), read by
    # cloud/orders/views.py only. The key leads with the order (the triggers delete by it);
    # the search reads (account, piece) → orders from the second index alone.
    op.create_table(
        "order_search_gram",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("gram", sa.String(2), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "gram", name="pk_order_search_gram"),
    )
    op.create_index("ix_order_search_gram", "order_search_gram", ["account_id", "gram", "order_id"])
    for sql in _SQLITE if bind.dialect.name == "sqlite" else _POSTGRES:
        bind.execute(sa.text(sql))


def downgrade() -> None:
    bind = op.get_bind()
    for name in ("order_gram_ai", "order_gram_au", "order_gram_ad"):
        if bind.dialect.name == "sqlite":
            bind.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        else:
            bind.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON sales_order"))
    if bind.dialect.name == "sqlite":
        bind.execute(sa.text("DROP TABLE IF EXISTS order_search_pos"))
    else:
        for name in ("added", "removed", "changed"):
            bind.execute(sa.text(f"DROP FUNCTION IF EXISTS order_search_grams_{name}()"))
    op.drop_index("ix_order_search_gram", table_name="order_search_gram")
    op.drop_table("order_search_gram")
