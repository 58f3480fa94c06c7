"""SQLite's SKU search tests its keywords on an index, not on the table (migration 0069).

The F10 search (``cloud/catalogue/skus.py`` ``page_select``: the SKU search and the page of
the F9/F10 stock views) walks the account's SKUs in code order until it has a page. Through
the primary key SQLite looked every SKU up in the table to read its ``search_text``; with the
index of (account_id, sku_code, search_text) it reads the table for the page's rows only
(issue 20, docs/benchmarks.md "S36": 1.53 → 0.71 ms of SQLite per search at 5,000 SKUs).
Checked with the planner's statistics and without them, and the answers against a filter in
Python."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from cloud.catalogue import import_export, skus
from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.stock.views import stock_view

BRANDS = ("MKING", "迪沃", "ANKER", "绿联")


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    db = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    rows = [
        {
            "sku_code": f"{BRANDS[i % 4]} CASE-{i:04d}",
            "name": f"保护壳 {'金色' if i % 3 else '黑色'}",
            "brand": BRANDS[i % 4],
            "barcodes": f"69{i:011d}",
        }
        for i in range(400)
    ]
    with transaction(session_factory(engine)) as s:
        import_export.import_rows(s, 1, rows, "test", datetime.now(UTC))
    yield db, engine
    engine.dispose()


def _searches(engine: Engine) -> list[tuple[str, Any]]:
    """The SKU search's and an F9 view's statements, as SQLAlchemy sends them."""
    caught: list[tuple[str, Any]] = []

    def catch(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "instr(sku.search_text" in sql:
            caught.append((sql, params))

    event.listen(engine, "before_cursor_execute", catch)
    with session_factory(engine)() as s:
        skus.sku_rows(s, 1, "迪沃 金色", 50, 0)
        stock_view(
            s, 1, datetime.now(UTC), warehouse=None, query="绿联", columns=[], limit=50, offset=0
        )
    event.remove(engine, "before_cursor_execute", catch)
    assert len(caught) == 2
    return caught


@pytest.mark.parametrize("statistics", [False, True])
def test_the_sku_search_walks_the_covering_index(
    catalogue: tuple[Path, Engine], statistics: bool
) -> None:
    db, engine = catalogue
    if statistics:
        with sqlite3.connect(db) as c:
            c.execute("ANALYZE")
    sent = _searches(engine)
    with sqlite3.connect(db) as c:
        for sql, params in sent:
            plan = " | ".join(r[3] for r in c.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "USING INDEX ix_sku_search_sqlite (account_id=?)" in plan, plan


def test_the_answers_are_a_filter_of_the_catalogue_in_code_order(
    catalogue: tuple[Path, Engine],
) -> None:
    _, engine = catalogue
    with session_factory(engine)() as s:
        got = [r["sku_code"] for r in skus.sku_rows(s, 1, "迪沃 金色", 50, 5)]
    codes = sorted(f"{BRANDS[i % 4]} CASE-{i:04d}" for i in range(400) if i % 4 == 1 and i % 3)
    assert got == codes[5:55]
