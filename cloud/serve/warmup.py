"""Warm an API worker before it takes requests.

A freshly started worker pays, on its first requests, for work that later requests do not:
the address parser builds its matcher (cpca: about 0.3 s of CPU on the first address),
SQLAlchemy compiles each statement once, and each new database connection is a new
PostgreSQL backend whose catalogue caches and first plans are cold (10-30 ms per statement
kind). A worker is single-threaded Python for all of that, so under load the requests behind
the first slow ones queued: after a start, ``guanjia bench cloud`` at 300 requests/s showed
latency climbing to about a second and taking 5-20 s to drain, while after that p50 was a
few milliseconds. Paying it here, before the worker accepts requests, moves it out of the
way of the first users after a deploy or a restart.

Everything here only reads (each connection's transaction is rolled back) and is bounded:
one small page per statement. A database without data (a new install) simply warms less.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, suppress
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.catalogue import skus as catalogue
from cloud.db.models import SalesOrder, Warehouse
from cloud.errors import NotFoundError
from cloud.orders import audit_rules
from cloud.orders import views as order_views
from cloud.orders.views import OrderFilter
from cloud.stock import views as stock_views

log = logging.getLogger("guanjia.cloud")

#: Searches of one and of two keywords are different statements (``catalogue.page_select``).
_KEYWORDS = ("MKING", "保护壳 金色")
_COLUMNS = ["name", "on_hand", "reserved", "available", "inbound", "channel_stock", "sales_7d"]


def _reads(session: Session, account_id: int, order_no: str | None, warehouse: str | None) -> None:
    """The API's busiest reads once each, with the variants that are separate statements."""
    now = datetime.now(UTC)
    for status in (None, "audited"):
        order_views.page(session, account_id, OrderFilter(status=status), limit=5, offset=0)
    for q in ("TB2", "x"):  # a trigram lookup (PostgreSQL) and a short pattern's scan
        order_views.page(session, account_id, OrderFilter(q=q), limit=5, offset=0)
    if order_no is not None:
        order_views.detail(session, account_id, order_no)
    for kw in _KEYWORDS:
        catalogue.sku_rows(session, account_id, kw, 5, 0)
        for code in (None, warehouse):
            with suppress(NotFoundError):  # no such warehouse: the statement ran all the same
                stock_views.stock_view(
                    session,
                    account_id,
                    now,
                    warehouse=code,
                    query=kw,
                    columns=_COLUMNS,
                    limit=5,
                    offset=0,
                )


def warm(sessions: sessionmaker[Session], connections: int) -> float:
    """Warm the address parser and ``connections`` pooled connections; returns seconds taken.

    The connections are held open together so that each is a different one; the pool keeps
    them afterwards. Reads use the account of the newest order (the data the API will read),
    or an account that does not exist (the statements still compile and plan).
    """
    t0 = time.perf_counter()
    audit_rules.parse_region("湖南省长沙市岳麓区")
    with ExitStack() as stack:
        for i in range(max(1, connections)):
            session = stack.enter_context(sessions())
            stack.callback(session.rollback)
            if i == 0:
                newest = session.execute(
                    select(SalesOrder.account_id, SalesOrder.order_no)
                    .order_by(SalesOrder.id.desc())
                    .limit(1)
                ).first()
                account_id, order_no = (newest[0], newest[1]) if newest else (0, None)
                warehouse = session.execute(
                    select(Warehouse.code).where(Warehouse.account_id == account_id).limit(1)
                ).scalar()
            _reads(session, account_id, order_no, warehouse)
    took = time.perf_counter() - t0
    log.info("worker warmed %d connection(s) in %.2f s", connections, took)
    return took
