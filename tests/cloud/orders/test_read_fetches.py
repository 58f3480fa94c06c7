"""The order list and the detail read their lines and history with one fetch each, not a
fetch per row through SQLAlchemy's result (issue 20, docs/benchmarks.md "S36": ~80 lines a
page, 0.04-0.1 ms of an order list's CPU). Same answers either way; this checks the reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import cursor

from cloud.db.engine import session_factory
from cloud.orders import views
from cloud.orders.views import OrderFilter
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, account_id_of, login
from tests.cloud.orders.demo_order import CASE, RECIPIENT


@pytest.fixture
def shop(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    for i in range(3):
        lines = [
            {"line_id": str(n), "sku_code": CASE, "qty": 1, "price_cents": 5900}
            for n in range(1, 4)
        ]
        body = {"order_no": f"F-{i}", "buyer_nick": "b", "recipient": RECIPIENT, "lines": lines}
        r = app_client.post("/api/v1/orders", json={"orders": [body], "auto_audit": False})
        assert r.status_code == 201, r.text
        assert app_client.post(f"/api/v1/orders/F-{i}/hold", json={"reason": "x"}).is_success
    return app_client


def test_lines_and_history_are_fetched_at_once(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = account_id_of(shop)
    calls: list[int] = []
    one = cursor.CursorFetchStrategy.fetchone

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return one(self, *args, **kwargs)

    monkeypatch.setattr(cursor.CursorFetchStrategy, "fetchone", counted)
    engine = shop.app.state.engine  # type: ignore[attr-defined]
    with session_factory(engine)() as s:
        listed = views.page(s, account, OrderFilter(), limit=50, offset=0)
        one_order = views.detail(s, account, "F-1")
    assert [o["order_no"] for o in listed][:3] == ["F-2", "F-1", "F-0"]
    assert all(len(o["lines"]) == 3 for o in listed[:3])
    assert len(one_order["lines"]) == 3 and one_order["history"]
    assert calls == []
