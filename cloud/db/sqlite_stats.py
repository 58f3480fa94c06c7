"""SQLite's planner statistics for a hub on SQLite, gathered at start and every hour.

Nothing gathered them before (no ``ANALYZE``, no ``PRAGMA optimize``), and without them
SQLite's planner chose badly on a large ledger: a ship's reservation lookup
(cloud/orders/core.py ``reserved_by``: ``WHERE account_id = ? AND document = ? GROUP BY
warehouse_id, sku_code``) went through ``ix_movement_stock (account_id=?)``, the account's
whole ledger, for the GROUP BY's order: 208.6 ms a call over 187,608 movements, against
0.02 ms through the document's index once the statistics exist (docs/benchmarks.md, S30).
SQLite's documentation advises long-lived connections to keep statistics current
(sqlite.org/lang_analyze.html, "PRAGMA optimize"); ``analysis_limit`` samples each index
instead of reading it whole, so a refresh of a large database takes milliseconds.

A small database is left alone: its plans do not depend on statistics, and a hub starting
on a fresh file (every test, the demo) keeps the plans it always had.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine

from cloud.periodic import Periodic

log = logging.getLogger("guanjia.cloud.db")

#: Rows ANALYZE samples per index (sqlite.org/pragma.html#pragma_analysis_limit).
ANALYSIS_LIMIT = 400


def refresh(engine: Engine, min_pages: int) -> bool:
    """Gather the statistics of a SQLite database of at least ``min_pages`` pages; returns
    whether it did (never on another database)."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
        if pages < min_pages:
            return False
        conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    log.info("SQLite statistics gathered (%d pages)", pages)
    return True


class Worker(Periodic):
    name = "sqlite statistics"
    failed = "gathering SQLite's statistics failed; trying again"

    def __init__(self, engine: Engine, poll: timedelta, min_pages: int) -> None:
        super().__init__(poll, log)
        self.engine, self.min_pages = engine, min_pages

    def step(self, now: datetime) -> None:
        refresh(self.engine, self.min_pages)
