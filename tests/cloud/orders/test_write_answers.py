"""A write of an order answers with the order as a GET reads it, in fewer statements
(issue 20): the detail is the order with its lines, then its decisions and history
together (cloud/orders/views.py ``detail``). The reference here reads them the way the
detail did before, one table at a time, so a change of shape or order shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cloud.api.responses import JsonRows
from cloud.db.models import Account, OrderDecision, OrderLog, SalesOrder, SalesOrderLine, Warehouse
from cloud.orders import views
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, login


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def reference(s: Session, order_no: str, *, said: bool = False) -> dict[str, Any]:
    """The detail read one table at a time (as before issue 20)."""
    o = SalesOrder.__table__.c
    row = s.execute(
        select(o.id, *(o[f] for f in views.ORDER_FIELDS), Warehouse.code.label("warehouse"))
        .join(Warehouse, Warehouse.id == o.warehouse_id)
        .where(o.order_no == order_no)
    ).one()
    out = dict(row._mapping)
    order_id = out.pop("id")
    ln = SalesOrderLine.__table__.c
    out["lines"] = [
        dict(r._mapping)
        for r in s.execute(
            select(*(ln[f] for f in views.LINE_FIELDS))
            .where(ln.order_id == order_id)
            .order_by(ln.line_id)
        )
    ]
    d, h = OrderDecision.__table__.c, OrderLog.__table__.c
    dfields = views.SAID_FIELDS if said else views.DECISION_FIELDS
    hfields = views.LOG_SAID_FIELDS if said else views.LOG_FIELDS
    out["decisions"] = [
        dict(zip(dfields, r, strict=True))
        for r in s.execute(
            select(*(d[f] for f in dfields)).where(d.order_id == order_id).order_by(d.id)
        )
    ]
    out["history"] = [
        dict(zip(hfields, r, strict=True))
        for r in s.execute(
            select(*(h[f] for f in hfields)).where(h.order_id == order_id).order_by(h.id)
        )
    ]
    return out


def test_hold_and_resave_answer_the_order_as_read_table_by_table(demo: TestClient) -> None:
    state = demo.app.state  # type: ignore[attr-defined]
    answers = {
        # An audited order with decisions of several checks and rules, held by hand.
        "JY1300003": demo.post("/api/v1/orders/JY1300003/hold", json={"reason": "核对地址"}),
        # An order held for its buyer remark, saved again: new decisions, a history line.
        "JY1300004": demo.post("/api/v1/orders/JY1300004/save"),
    }
    with state.sessions() as s:
        for no, r in answers.items():
            assert r.status_code == 200, r.text
            ref = reference(s, no)
            assert ref["lines"] and ref["decisions"] and len(ref["history"]) >= 2
            body = r.json()
            assert body == demo.get(f"/api/v1/orders/{no}").json()
            # The same values as the reference, encoded as the API encodes its answers.
            assert body == json.loads(bytes(JsonRows(ref).body))
            account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
            assert views.detail(s, account, no) == ref
            assert views.detail(s, account, no, said=True) == reference(s, no, said=True)


def test_the_detail_is_two_statements(demo: TestClient) -> None:
    state = demo.app.state  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    with state.sessions() as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        event.listen(state.engine, "before_cursor_execute", count)
        try:
            for said in (False, True):
                seen.clear()
                views.detail(s, account, "JY1300003", said=said)
                assert len(seen) == 2, seen
        finally:
            event.remove(state.engine, "before_cursor_execute", count)
