"""The rule dry run (cloud/orders/rule_dry_run.py, POST /api/v1/rules/{key}/dry-run): what a
proposed rule version would do to today's orders, with nothing written."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.models import OrderDecision, OrderLog, Rule, SalesOrder, StockMovement, Task
from cloud.seed import HUNAN, seed_demo
from tests.cloud.conftest import PASSWORD, login, make_account

SKU = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
HOLD_JD = {
    "kind": "hold",
    "name": "京东订单人工看 (JD orders by hand)",
    "priority": 5,
    "conditions": [{"field": "channel", "op": "eq", "value": "jd"}],
    "action": {"hold": "JD orders are checked by hand"},
}


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=["n-1"])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def _orders(client: TestClient, n: int, jd: int, prefix: str = "DR") -> None:
    """``n`` orders waiting for their audit, the first ``jd`` of them from JD."""
    body = {
        "auto_audit": False,
        "orders": [
            {
                "order_no": f"{prefix}{i:05d}",
                "channel": "jd" if i < jd else "shop",
                "buyer_nick": f"b{i}",
                "recipient": HUNAN,
                "lines": [{"line_id": "1", "sku_code": SKU, "qty": 1, "price_cents": 5900}],
            }
            for i in range(n)
        ],
    }
    r = client.post("/api/v1/orders", json=body)
    assert r.status_code in (200, 201), r.text


def _snapshot(client: TestClient) -> tuple[Any, ...]:
    with client.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        counts = tuple(
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (SalesOrder, OrderDecision, OrderLog, Rule, Task, StockMovement)
        )
        orders = s.execute(
            select(
                SalesOrder.order_no,
                SalesOrder.changed_at,
                SalesOrder.status,
                SalesOrder.on_hold,
                SalesOrder.carrier,
            ).order_by(SalesOrder.order_no)
        ).all()
    return counts, tuple(tuple(o) for o in orders)


def test_a_hold_rule_reports_exactly_the_orders_it_would_hold(demo: TestClient) -> None:
    _orders(demo, 10, jd=3)
    before = _snapshot(demo)
    r = demo.post("/api/v1/rules/hold-jd/dry-run", json=HOLD_JD)
    assert r.status_code == 200, r.text
    run = r.json()
    changed = [o for o in run["orders"] if o["changed"]]
    assert sorted(o["order_no"] for o in changed) == ["DR00000", "DR00001", "DR00002"]
    for o in changed:
        assert o["proposed"]["held"] and not o["current"]["held"], o
        assert any("JD orders are checked by hand" in h for h in o["proposed"]["holds"])
    assert run["totals"]["newly_held"] == 3 and run["totals"]["changed"] == 3
    assert run["version"] == 1 and not run["truncated"]
    # the ten orders and the demo's held one (saved today); not the audited ones
    assert run["total"] == run["evaluated"] == 11
    assert {o["status"] for o in run["orders"]} == {"new", "saved"}
    with_audited = demo.post(
        "/api/v1/rules/hold-jd/dry-run?include_audited=true&changed_only=true", json=HOLD_JD
    ).json()
    assert with_audited["total"] > 11 and len(with_audited["orders"]) == 3
    assert _snapshot(demo) == before, "a dry run wrote something"


def test_a_courier_change_is_reported_per_order(demo: TestClient) -> None:
    _orders(demo, 4, jd=0)
    rule = demo.get("/api/v1/rules").json()
    hunan = next(x for x in rule if x["rule_key"] == "hunan-sf")
    body = {k: hunan[k] for k in ("kind", "name", "priority", "conditions", "active")}
    body["action"] = {"carrier": "ZTO"}
    before = _snapshot(demo)
    run = demo.post("/api/v1/rules/hunan-sf/dry-run", json=body).json()
    assert run["version"] == hunan["version"] + 1
    moved = [o for o in run["orders"] if o["changed"]]
    assert len(moved) == 4 and run["totals"]["courier_changed"] == 4
    for o in moved:
        assert (o["current"]["carrier"], o["proposed"]["carrier"]) == ("SF", "ZTO")
        assert o["proposed"]["carrier_source"] == f"hunan-sf@{run['version']}"  # the proposal
    # deactivated, the Hunan orders fall through to the default rule (ZTO) as well
    off = demo.post("/api/v1/rules/hunan-sf/dry-run", json={**body, "active": False}).json()
    assert off["totals"]["courier_changed"] == 4
    assert _snapshot(demo) == before


def test_bad_input_is_refused_with_a_sentence_and_changes_nothing(demo: TestClient) -> None:
    _orders(demo, 2, jd=1)
    before = _snapshot(demo)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("bad key!", HOLD_JD, 422, "string should match pattern"),
        ("hold-jd", {**HOLD_JD, "colour": "red"}, 422, "extra inputs are not permitted"),
        ("hold-jd", {**HOLD_JD, "kind": "parcel"}, 422, "input should be"),
        (
            "hold-jd",
            {**HOLD_JD, "conditions": [{"field": "total", "op": "between", "value": [1]}]},
            422,
            "between needs a [low, high] list",
        ),
        ("hold-jd", {**HOLD_JD, "action": {"carrier": "SF"}}, 422, "extra inputs"),
        # the key holds a courier rule: a hold rule would be refused on saving too
        ("hunan-sf", HOLD_JD, 409, "is a courier rule; use a new key"),
    ]
    for key, body, status, text in cases:
        r = demo.post(f"/api/v1/rules/{key}/dry-run", json=body)
        assert r.status_code == status, (key, body, r.text)
        assert text in r.text.lower(), (text, r.text)
    r = demo.post("/api/v1/rules/hold-jd/dry-run?limit=0", json=HOLD_JD)
    assert r.status_code == 422
    assert _snapshot(demo) == before


def test_scope_and_tenancy(demo: TestClient) -> None:
    _orders(demo, 3, jd=3)
    other = make_account(demo, "other")
    run = demo.post("/api/v1/rules/hold-jd/dry-run", json=HOLD_JD, headers=other).json()
    assert run["total"] == 0 and run["orders"] == []  # none of the demo seller's orders
    # orders:read runs it (every role has it); saving needs rules:write
    from cloud.db.models import Account

    with demo.app.state.sessions() as s:  # type: ignore[attr-defined]
        demo_id = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
    reader = make_account(demo, "demo", role="readonly", account_id=demo_id)
    run = demo.post("/api/v1/rules/hold-jd/dry-run", json=HOLD_JD, headers=reader).json()
    assert run["totals"]["newly_held"] == 3
    assert demo.put("/api/v1/rules/hold-jd", json=HOLD_JD, headers=reader).status_code == 403


def test_the_run_is_capped(demo: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud.orders import rule_dry_run

    _orders(demo, 6, jd=6)
    monkeypatch.setattr(rule_dry_run, "MAX_ORDERS", 4)
    run = demo.post("/api/v1/rules/hold-jd/dry-run", json=HOLD_JD).json()
    assert (run["total"], run["evaluated"], run["truncated"]) == (7, 4, True)


@pytest.mark.slow
def test_ten_thousand_orders_in_seconds(demo: TestClient) -> None:
    """The figure in docs/dashboard.md: 10,000 of today's orders, evaluated twice."""
    for k in range(10):
        _orders(demo, 1000, jd=100, prefix=f"B{k}-")
    started = time.perf_counter()
    r = demo.post("/api/v1/rules/hold-jd/dry-run?changed_only=true", json=HOLD_JD)
    took = time.perf_counter() - started
    run = r.json()
    assert run["evaluated"] == 10_000 and run["truncated"] and run["totals"]["changed"] == 1000
    print(
        f"dry run of {run['evaluated']} orders: {took:.2f} s ({run['elapsed_ms']} ms in the domain)"
    )
    assert took < 15
