"""A hub on SQLite gathers the planner's statistics (cloud/db/sqlite_stats.py): without them a
ship's reservation lookup read the account's whole ledger (docs/benchmarks.md, S30)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cloud.db.engine import make_engine, migrate
from cloud.db.sqlite_stats import refresh

#: cloud/orders/core.py ``reserved_by`` as SQLAlchemy sent it before migration 0060 (it sums
#: without a GROUP BY now: tests/cloud/db/test_movement_document_plans.py); a query of this
#: shape still needs the statistics.
RESERVED_BY = (
    "SELECT warehouse_id, sku_code, sum(reserved_delta) FROM stock_movement"
    " WHERE account_id = ? AND document = ? GROUP BY warehouse_id, sku_code"
)


def _plan(db: Path) -> str:
    with sqlite3.connect(db) as c:
        rows = c.execute("EXPLAIN QUERY PLAN " + RESERVED_BY, (1, "order:O-5")).fetchall()
    return " ".join(str(r[-1]) for r in rows)


def test_the_statistics_send_a_ships_lookup_through_the_documents_index(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    with sqlite3.connect(db) as c:  # foreign keys off: the ledger's rows alone matter here
        c.executemany(
            "INSERT INTO stock_movement (id, account_id, warehouse_id, sku_code, kind, bucket,"
            " qty_delta, reserved_delta, bin_delta, reason, document, actor, created_at,"
            " override) VALUES (?, 1, ?, ?, 'reserve', 'sellable', 0, 1, 0, 'r', ?, 'hub',"
            " '2026-12-07 00:00:00', 0)",
            [(f"m{i}", i % 3, f"SKU-{i % 50}", f"order:O-{i}") for i in range(20_000)],
        )
    assert "ix_movement_stock" in _plan(db)  # the whole account's ledger, as before
    assert not refresh(engine, min_pages=10**9)  # a small database is left alone
    assert refresh(engine, min_pages=0)
    plan = _plan(db)  # the document's index: its own or the seller's (0060)
    assert "ix_stock_movement_document" in plan or "(account_id=? AND document=?)" in plan, plan
    engine.dispose()


def test_never_on_postgresql() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not refresh(engine, min_pages=0)  # no connection is even tried
