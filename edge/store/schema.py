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
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Final, TypeAlias

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
    db: sqlite_utils.Database = _sqlite_utils().Database(
        conn, recursive_triggers=False, execute_plugins=False
    )
    return db


#: Optional integrations sqlite-utils imports at its own import when they are installed
#: (sqlite_utils/db.py: ``importlib.import_module("pandas")`` and ``"numpy"`` in a
#: try/except ImportError), only to map their value types to column types when inserting
#: DataFrames and arrays, which the store never does.
_NOT_FOR_SQLITE_UTILS: Final = ("pandas", "numpy")


def _sqlite_utils() -> ModuleType:
    """sqlite-utils, imported without pandas and numpy.

    Imported here, not at the top: a store with no migration pending, opened at every start,
    needs none of it. And without pandas: a venv with the cloud extra has it (``cpca``
    needs it), and sqlite-utils took it in on every new store's first migration: the node
    grew from 55 to 105 MB resident and the 120 MB target of ``guanjia bench sync`` was
    missed (docs/benchmarks.md, 2026-12-07). A ``None`` in ``sys.modules`` makes an import
    raise ImportError (the import system's documented rule), which sqlite-utils catches;
    the entries are removed again at once, so nothing else in the process is affected. (A
    thread importing either in that instant would be refused too: the store migrates in its
    constructor, before the node starts any thread.)
    """
    if "sqlite_utils" in sys.modules:
        return sys.modules["sqlite_utils"]
    blocked = [name for name in _NOT_FOR_SQLITE_UTILS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import sqlite_utils
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return sqlite_utils


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
