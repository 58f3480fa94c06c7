"""Every lookup of a document's movements goes through the document on SQLite, with the
planner's statistics or without them (migration 0060): none reads the seller's whole ledger.

Without statistics SQLite's planner prefers the index with the most equal columns, and took
``ix_movement_kind_at`` (account, kind) or ``ix_movement_stock`` (account, for a GROUP BY's
order) over the document's: 0.3–2.4 s a call over 241,200 movements (docs/benchmarks.md,
S31). The queries the code sends are caught as SQLAlchemy sends them where the function can
run alone; the two inside larger steps are written out as they are sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cloud.db.engine import make_engine, migrate, session_factory
from cloud.db.models import SalesOrder

#: cloud/orders/reversals.py ``reverse_outbound``: an order's shipments.
REVERSALS = (
    "SELECT stock_movement.id FROM stock_movement WHERE stock_movement.account_id = ?"
    " AND stock_movement.document = ? AND stock_movement.kind = ? ORDER BY stock_movement.id",
    (1, "order:O-5", "ship"),
)
#: cloud/inbound/transfer_moves.py ``_last_shipment``: a transfer's shipment.
TRANSFER = (
    "SELECT stock_movement.id FROM stock_movement WHERE stock_movement.account_id = ?"
    " AND stock_movement.document = ? AND (stock_movement.event_key LIKE ? || '%' ESCAPE '/')",
    (1, "tr:TR-5", "tr:1:TR-5:s1:"),
)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    db = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    kinds = ("reserve", "pick", "ship", "unreserve")
    with sqlite3.connect(db) as c:  # foreign keys off: the ledger's rows alone matter here
        c.executemany(
            "INSERT INTO stock_movement (id, account_id, warehouse_id, sku_code, kind, bucket,"
            " qty_delta, reserved_delta, bin_delta, reason, document, actor, created_at,"
            " override) VALUES (?, 1, ?, ?, ?, 'sellable', -1, 1, 0, 'r', ?, 'hub',"
            " '2026-12-07 00:00:00', 0)",
            [
                (f"m{i}-{k}", i % 3, f"SKU-{i % 50}", kind, f"order:O-{i}")
                for i in range(5_000)
                for k, kind in enumerate(kinds)
            ],
        )
    yield db, engine
    engine.dispose()


def _sent(engine: Any) -> list[tuple[str, Any]]:
    """What the code sends: each function run once, its statements caught."""
    from cloud.finance.poster import _shipped_lines
    from cloud.orders.core import reserved_by
    from cloud.orders.workflow import reverse_picks
    from cloud.stock import ledger

    caught: list[tuple[str, Any]] = []

    def catch(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "FROM stock_movement" in sql:
            caught.append((sql, params))

    event.listen(engine, "before_cursor_execute", catch)
    order = SalesOrder(account_id=1, order_no="O-NONE")  # none of its movements exist
    at = datetime(2026, 12, 7, tzinfo=UTC)
    with session_factory(engine)() as s:
        reserved_by(s, "O-5", 1)
        reverse_picks(s, order, "x", "test", at)
        _shipped_lines(s, order, at)
        ledger.movements(s, 1, document="order:O-5")
    event.remove(engine, "before_cursor_execute", catch)
    assert len(caught) == 4, caught
    return [*caught, REVERSALS, TRANSFER]


def _plans(db: Path, sent: list[tuple[str, Any]]) -> list[str]:
    with sqlite3.connect(db) as c:
        return [
            " | ".join(str(r[-1]) for r in c.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in sent
        ]


def test_a_documents_movements_through_its_index_with_and_without_statistics(
    ledger: tuple[Path, Any],
) -> None:
    db, engine = ledger
    sent = _sent(engine)
    with sqlite3.connect(db) as c:
        assert not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall()
    for statistics in (False, True):
        if statistics:
            with sqlite3.connect(db) as c:
                c.execute("ANALYZE")
        for (sql, _), plan in zip(sent, _plans(db, sent), strict=True):
            first = plan.split(" | ")[0]
            assert "USING INDEX ix_movement_document (account_id=? AND document=?" in first, (
                statistics,
                sql,
                plan,
            )
            # No list of every seller's reversals first, no scan of the table.
            assert "LIST SUBQUERY" not in plan and "SCAN stock_movement" not in plan, plan


def test_a_drawn_waybill_number_is_checked_through_its_index(tmp_path: Path) -> None:
    """cloud/orders/release.py ``allocate`` looks a number up among the seller's orders."""
    from cloud.orders.release import allocate

    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    caught: list[tuple[str, Any]] = []

    def catch(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "FROM sales_order" in sql:
            caught.append((sql, params))

    event.listen(engine, "before_cursor_execute", catch)
    with session_factory(engine)() as s:
        assert allocate(s, 1, "SF").startswith("SF")
    event.remove(engine, "before_cursor_execute", catch)
    (plan,) = _plans(tmp_path / "hub.db", caught)
    assert "USING INDEX ix_order_tracking (account_id=? AND tracking_number=?)" in plan, plan
    engine.dispose()
