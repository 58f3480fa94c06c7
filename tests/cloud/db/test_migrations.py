"""The Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

import importlib
import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, ForeignKeyConstraint, text

import cloud.db.channel_changes
import cloud.db.courier_bill
import cloud.db.finance  # noqa: F401 - its tables are part of the metadata
from cloud.db import waybills as _waybills  # noqa: F401 - its tables too
from cloud.db.engine import (
    MIGRATION_LOCK,
    alembic_config,
    current_revisions,
    head_revisions,
    migrate,
)
from cloud.db.models import Base
from tests.support import wait

INDEXES = importlib.import_module("cloud.db.migrations.versions.0007_trigram_search").INDEXES


#: On PostgreSQL a leg's entry and account are checked by the legs' statement trigger, not by
#: these foreign keys of the models, which SQLite keeps (migration 0047_finance_set_guards);
#: an entry's seller by the entries' statement trigger (0056_finance_balance_per_statement).
PG_TRIGGER_CHECKED_FKS = {"fk_fin_leg_entry", "fk_fin_leg_account"}
PG_TRIGGER_CHECKED_COLUMNS = {("fin_entry", "account_id")}

#: PostgreSQL-only tables of the books' guards, not in the models: the queue of entries whose
#: balance the deferred trigger checks at COMMIT (migration 0056_finance_balance_per_statement).
PG_ONLY_TABLES = {"fin_entry_check"}


def _not_trigram(obj: object, name: str | None, type_: str, *_: object) -> bool:
    # The PostgreSQL-only trigram indexes (migration 0007) are not in the models, which
    # describe what both databases have; the test below checks them. Likewise SQLite's
    # order search index (migration 0023: an FTS5 table, its shadow tables and a key table).
    if type_ == "table" and name is not None and name.startswith("order_search"):
        return False
    # And SQLite's covering index of the SKU search (migration 0069).
    if type_ == "index" and name is not None and name.endswith("_sqlite"):
        return False
    return not (type_ == "index" and name is not None and name.endswith("_trgm"))


def _compared_on_postgresql(obj: object, name: str | None, type_: str, *rest: object) -> bool:
    if type_ == "foreign_key_constraint" and name in PG_TRIGGER_CHECKED_FKS:
        return False
    if (
        type_ == "foreign_key_constraint"
        and isinstance(obj, ForeignKeyConstraint)
        and (obj.table.name, *obj.column_keys) in PG_TRIGGER_CHECKED_COLUMNS
    ):
        return False
    if type_ == "table" and name in PG_ONLY_TABLES:
        return False
    return _not_trigram(obj, name, type_, *rest)


def test_models_match_migrations(engine: Engine) -> None:
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": _compared_on_postgresql if pg else _not_trigram}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_substring_searches_have_trigram_indexes_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no trigram index; its searches scan")
    with engine.connect() as conn:
        found = set(
            conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                    " AND indexname LIKE '%\\_trgm'"
                )
            ).scalars()
        )
        # The planner takes it once the table is big enough to make a scan dear.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(
                text("EXPLAIN SELECT id FROM sales_order WHERE order_no LIKE '%2026001%'")
            ).scalars()
        )
    assert found == {name for name, _, _ in INDEXES}
    assert "ix_order_no_trgm" in plan


def test_migrate_twice_is_a_no_op(engine: Engine) -> None:
    migrate(engine)
    migrate(engine)


def test_hubs_starting_at_once_migrate_one_after_the_other(engine: Engine) -> None:
    """Every hub migrates on start; on PostgreSQL one holds an advisory lock while it does
    (cloud/db/migrations/env.py) and the others wait for it, then find the schema at head."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite is a file on one machine; serve --workers migrates once")
    key = MIGRATION_LOCK
    done = threading.Event()
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        # At head already, a start reads the version and takes no lock (cloud/db/engine.py).
        migrate(engine)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        # One revision behind (a deploy of a new version): the second start waits.
        command.downgrade(alembic_config(engine), "-1")
        assert current_revisions(engine) != head_revisions()
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        other = threading.Thread(target=lambda: (migrate(engine), done.set()), daemon=True)
        other.start()

        def waiting() -> bool:
            return bool(
                holder.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())"
                    )
                ).scalar_one()
            )

        wait(waiting, 30, "the second migration to wait for the lock")
        assert not done.is_set()
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        holder.commit()
    other.join(30)
    assert done.is_set()
    assert current_revisions(engine) == head_revisions()
