"""E-waybills on a running hub: the source set through the API (a bad one refused, nothing
stored), an order released through the API gets its waybill from the hub's own scheduler
thread against the simulator over a real socket, and the order's draws are listed. SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from cloud.channels import shops
from cloud.db.engine import transaction
from simulators.marketplace.cainiao import book
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Hub, stock_up
from tests.cloud.channels.test_api import _until, hub, sim  # noqa: F401 - fixtures
from tests.cloud.conftest import account_id_of, make_account

SENDER = {
    "name": "管家仓",
    "phone": "0571-88880000",
    "province": "浙江省",
    "city": "杭州市",
    "address": "余杭区仓前街道 1 号",
}


def test_the_hubs_scheduler_draws_the_waybill_of_a_released_order(
    hub: TestClient,  # noqa: F811
    sim: tuple[Market, str],  # noqa: F811
) -> None:
    market, url = sim
    admin = make_account(hub, "acme")
    account_id = account_id_of(hub, admin)
    sessions = hub.app.state.sessions  # type: ignore[attr-defined]
    from cloud.catalogue.skus import SkuIn, upsert_sku
    from cloud.stock.warehouses import WarehouseIn, create_warehouse

    with transaction(sessions) as s:
        now = datetime.now(UTC)
        create_warehouse(s, account_id, WarehouseIn(code="WH1", name="main", kind="main"), "t", now)
        for code in market.skus:
            upsert_sku(s, SkuIn(sku_code=code, name=code, barcodes=[f"BC-{code}"]), now, account_id)
        body = shops.ShopIn(
            code="tb",
            api_url=url,
            app_key="12345678",
            app_secret="api-secret",
            session_key="api-session",
            start_from=now - timedelta(hours=1),
        )
        shops.add_shop(s, account_id, body, now)
    stock_up(Hub(sessions, account_id))

    bad = {"shop": "tb", "cp_code": "ZTO", "sender": {**SENDER, "phone": "call me"}}
    r = hub.put("/api/v1/channels/waybill-sources/ZTO", json=bad, headers=admin)
    assert r.status_code == 422, r.text
    assert hub.get("/api/v1/channels/waybill-sources", headers=admin).json() == []
    good = {"shop": "tb", "cp_code": "ZTO", "sender": SENDER}
    r = hub.put("/api/v1/channels/waybill-sources/ZTO", json=good, headers=admin)
    assert r.status_code == 200 and r.json()["shop"] == "tb", r.text

    market.now = time.time()  # the hub signs with the wall clock
    # An order by API (not from a marketplace: its trade order is its own number, OTHERS).
    order_no = "JY-WAYBILL-1"
    recipient = {**SENDER, "name": "张三", "phone": "13800000000", "district": "西湖区"}
    new = {
        "order_no": order_no,
        "buyer_nick": "buyer",
        "recipient": recipient,
        "lines": [{"line_id": "1", "sku_code": market.skus[0], "qty": 1, "price_cents": 9900}],
    }
    r = hub.post("/api/v1/orders", json={"orders": [new]}, headers=admin)
    assert r.status_code in (200, 201), r.text
    got = hub.get(f"/api/v1/orders/{order_no}", headers=admin).json()
    assert got["status"] == "audited", (got["hold_reason"], got.get("decisions"))
    r = hub.post(f"/api/v1/orders/{order_no}/release", json={}, headers=admin)
    assert r.status_code == 200 and r.json()["tracking_number"] is None, r.text

    def drawn() -> Any:
        rows = hub.get(f"/api/v1/channels/orders/{order_no}/waybills", headers=admin).json()
        return rows if rows and rows[0]["state"] != "pending" else None

    (row,) = _until(drawn, "the draw")
    assert row["state"] == "drawn" and row["route"] and row["error"] is None, row["error"]
    assert (
        hub.get(f"/api/v1/orders/{order_no}", headers=admin).json()["tracking_number"]
        == (row["waybill_code"])
    )
    assert [e["waybill_code"] for e in book(market).log] == [row["waybill_code"]]
    (number,) = book(market).numbers.values()
    assert number["key"] == ("ZTO", (order_no,), number["key"][2])
    _pool_topped_up_by_the_hubs_scheduler(hub, admin, account_id, market)


def _pool_topped_up_by_the_hubs_scheduler(
    hub: TestClient,  # noqa: F811
    admin: dict[str, str],
    account_id: int,
    market: Market,
) -> None:
    """A pack node's offline pool set through the API (bad targets and another's node
    refused, nothing stored) and filled by the hub's scheduler against the simulator."""
    from cloud.nodes import ownership
    from cloud.sync.assignment import assign_node

    sessions = hub.app.state.sessions  # type: ignore[attr-defined]
    node = "wh1-pack-api"
    with transaction(sessions) as s:
        ownership.enroll(s, node, "acme", "t", datetime.now(UTC))
    with transaction(sessions) as s:
        assign_node(s, account_id, node, "WH1", "t", datetime.now(UTC))
    path = f"/api/v1/channels/waybill-pools/{node}/ZTO"
    for bad in ({"target": -1}, {"target": 501}, {"target": "5"}, {"target": 5, "x": 1}, {}):
        r = hub.put(path, json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    r = hub.put(
        "/api/v1/channels/waybill-pools/wh1-no-such-node/ZTO", json={"target": 3}, headers=admin
    )
    assert r.status_code == 422, r.text
    r = hub.put(f"/api/v1/channels/waybill-pools/{node}/SF", json={"target": 3}, headers=admin)
    assert r.status_code == 422 and "no e-waybill source" in r.text, r.text
    assert hub.get("/api/v1/channels/waybill-pools", headers=admin).json() == []
    before = len(book(market).log)
    r = hub.put(path, json={"target": 3}, headers=admin)
    assert r.status_code == 200 and r.json()["target"] == 3, r.text

    def full() -> Any:
        (level,) = hub.get("/api/v1/channels/waybill-pools", headers=admin).json()
        return level if level["on_node"] == 3 else None

    level = _until(full, "the pool's top-up")
    assert (level["node"], level["on_the_way"], level["used"], level["low"]) == (node, 0, 0, False)
    assert len(book(market).log) == before + 3  # three numbers issued, each once
    _retired_and_given_back_by_force(hub, admin, node, market)


def _retired_and_given_back_by_force(
    hub: TestClient,  # noqa: F811
    admin: dict[str, str],
    node: str,
    market: Market,
) -> None:
    """The node retired through the API, never answering: forcing too early is refused; after
    the wait the hub's scheduler cancels each number at the courier once."""
    from sqlalchemy import update

    from cloud.db.waybills import PoolWaybill

    sessions = hub.app.state.sessions  # type: ignore[attr-defined]
    base = "/api/v1/channels/waybill-pools"
    for bad, status in (
        ("wh1-no-such-node", 404),
        ("a%00b", 422),
        ("%ED%A0%80", 404),  # not UTF-8: decoded to U+FFFD, a name no node has
        ("x" * 65, 422),
    ):
        for action in ("retire", "force-give-back"):
            r = hub.post(f"{base}/{bad}/{action}", headers=admin)
            assert r.status_code == status, (bad, action, r.status_code, r.text)
    r = hub.post(f"{base}/{node}/force-give-back", headers=admin)
    assert r.status_code == 409 and "not giving any numbers back" in r.text, r.text
    (level,) = hub.get(base, headers=admin).json()
    assert (level["target"], level["on_node"], level["forced"]) == (3, 3, 0)

    r = hub.post(f"{base}/{node}/retire", headers=admin)
    assert r.status_code == 200 and [p["target"] for p in r.json()] == [0], r.text
    r = hub.post(f"{base}/{node}/retire", headers=admin)
    assert r.status_code == 409 and "retired already" in r.json()["detail"], r.text

    def asked() -> Any:
        (level,) = hub.get(base, headers=admin).json()
        return level if level["giving_back"] == 3 and level["asked_since"] else None

    _until(asked, "the numbers asked back")
    r = hub.post(f"{base}/{node}/force-give-back", headers=admin)
    assert r.status_code == 409 and "less than 24 hours ago" in r.json()["detail"], r.text
    with transaction(sessions) as s:  # the node stays silent for two days
        s.execute(update(PoolWaybill).values(asked_at=datetime.now(UTC) - timedelta(days=2)))
    cancels = sum(e["action"] == "cancel" for e in book(market).log)
    r = hub.post(f"{base}/{node}/force-give-back", headers=admin)
    assert r.status_code == 200 and r.json()["forced"] == {"ZTO": 3}, r.text

    def given_back() -> Any:
        (level,) = hub.get(base, headers=admin).json()
        return level if level["given_back"] == 3 else None

    level = _until(given_back, "the forced numbers cancelled")
    assert (level["forced"], level["giving_back"], level["asked_since"]) == (3, 0, None)
    assert sum(e["action"] == "cancel" for e in book(market).log) == cancels + 3
