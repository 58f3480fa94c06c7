"""Migration steps: SQL text, or sqlite-utils calls, inside the store's own transaction.

A migration (edge/store/migrations.py) is a name and one step. Shipped migrations are SQL
text and stay so: what ran on nodes in the field must not change. Migrations from
``0009`` on may instead be a callable taking a :class:`sqlite_utils.Database` that
wraps the store's *own* connection, for ``create(..., strict=True)``,
``transform``, ``create_index``, ``enable_fts``.

Why this is atomic (one migration and its ``schema_migrations`` record commit
together, or neither does):

* :meth:`edge.store.Store.migrate` opens the transaction (``BEGIN IMMEDIATE``) and
  commits it after the record is written.
* sqlite-utils 4 joins an open transaction instead of committing it: ``execute``
  commits only a transaction it opened itself, ``executescript`` runs statement
  by statement while a transaction is open (``sqlite3.executescript`` would
  COMMIT first), and ``transform``/``atomic`` use savepoints inside one. sqlite-utils
  3.x used ``with conn:``, which commits the caller's transaction: hence the
  ``>=4.1.1`` pin, and :func:`apply_step` checks that the transaction is still
  open after each step rather than trusting it.
* ``PRAGMA foreign_keys`` cannot change inside a transaction, and a table rebuilt by
  ``transform`` is dropped: with foreign keys on, that DROP would fire
  ``ON DELETE CASCADE`` in the tables that refer to it (barcode -> sku). So
  ``migrate`` turns them off around each migration (SQLite's documented procedure
  for schema changes, "ALTER TABLE", 12 steps) and :func:`apply_step` runs
  ``PRAGMA foreign_key_check`` before the record is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import sqlite_utils

Step: TypeAlias = "str | Callable[[sqlite_utils.Database], None]"
Migration: TypeAlias = "tuple[str, Step]"


class MigrationError(Exception):
    pass


def schema_db(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """sqlite-utils over ``conn``, leaving the connection's settings as the store set them.

    By default sqlite-utils turns ``recursive_triggers`` on and lets installed plugins
    prepare the connection; the store's connection serves the stations afterwards.
    """
    # Imported here, not at the top: sqlite-utils imports numpy and pandas when present
    # (~0.3 s), and a store with no migration pending, opened at every start, needs none.
    import sqlite_utils

    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)


def apply_step(conn: sqlite3.Connection, step: Step) -> None:
    """Run one migration step inside the transaction open on ``conn``."""
    if not conn.in_transaction:
        raise MigrationError("a migration step runs inside the store's transaction only")
    if isinstance(step, str):
        # Exactly as shipped migrations always ran (they contain no ';' inside a statement).
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    else:
        step(schema_db(conn))
    if not conn.in_transaction:
        raise MigrationError(
            "the migration step ended the store's transaction (sqlite-utils older than 4?)"
        )
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise MigrationError(f"the migration leaves broken foreign keys: {broken[:5]}")


def fts_trigram_available(conn: sqlite3.Connection) -> bool:
    """SQLite has FTS5 with the ``trigram`` tokenizer (3.34+): substring search, Chinese included."""
    options = {r[0] for r in conn.execute("PRAGMA compile_options")}
    return sqlite3.sqlite_version_info >= (3, 34, 0) and "ENABLE_FTS5" in options
