"""The order list's page is read in its own order, without a sort (migration 0070).

The list is newest first, then by order number; the orders of one download share their
timestamp. With indexes of (account_id[, status], created_at) only, SQLite sorted every page
again in a temporary B-tree and PostgreSQL incrementally (issue 20, docs/benchmarks.md "S36":
0.83 → 0.15 ms of SQLite per page of 50 at 20,000 orders). PostgreSQL is asked with
sequential scans off, so its few test rows do not make a scan and a sort the cheaper plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from cloud.db.engine import session_factory
from cloud.orders import views
from cloud.orders.views import OrderFilter
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, account_id_of, login
from tests.cloud.orders.demo_order import CASE, RECIPIENT


@pytest.mark.parametrize("status", [None, "new"])
def test_a_page_of_the_list_is_not_sorted(app_client: TestClient, status: str | None) -> None:
    client = app_client
    with client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
    client.headers.update(login(client, "admin", account="demo"))
    line = {"line_id": "1", "sku_code": CASE, "qty": 1, "price_cents": 5900}
    orders = [
        {"order_no": f"L-{i}", "buyer_nick": "b", "recipient": RECIPIENT, "lines": [line]}
        for i in range(5)
    ]
    # One download: the five share their arrival time (the list's tie is the order number).
    r = client.post("/api/v1/orders", json={"orders": orders, "auto_audit": False})
    assert r.status_code == 201, r.text
    account = account_id_of(client)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    plans: list[str] = []
    with session_factory(engine)() as s:
        conn = s.connection()
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

        def explain(_c: Any, cur: Any, sql: str, params: Any, *_: Any) -> None:
            if "OFFSET" not in sql or "EXPLAIN" in sql:
                return
            if postgres:
                cur.execute("EXPLAIN " + sql, params)
                plans.append("\n".join(r[0] for r in cur.fetchall()))
            else:
                rows = cur.connection.execute("EXPLAIN QUERY PLAN " + sql, params)
                plans.append(" | ".join(r[3] for r in rows))

        event.listen(conn, "before_cursor_execute", explain)
        got = views.page(s, account, OrderFilter(status=status), limit=3, offset=1)
        event.remove(conn, "before_cursor_execute", explain)
    assert [o["order_no"] for o in got] == ["L-1", "L-2", "L-3"]
    assert len(plans) == 1
    assert "Sort" not in plans[0] and "TEMP B-TREE" not in plans[0], plans[0]
