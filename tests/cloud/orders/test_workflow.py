"""Orders, the audit rules, the stock ledger, reversals, edge facts and tenancy, over the API."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import StockLevel
from cloud.orders import arrival
from cloud.orders import core as orders
from cloud.seed import seed_demo
from cloud.stock.views import rebuild_levels
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    OrderPacked,
    OrderPackedPayload,
    OrderPicked,
    OrderPickedPayload,
    PackedItem,
    PickedLine,
)
from tests.cloud.conftest import PASSWORD, login, make_account

NODE = "wh1-pack-1"


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def order(c: TestClient, no: str) -> dict:  # type: ignore[type-arg]
    r = c.get(f"/api/v1/orders/{no}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_demo_orders_audit_themselves_and_say_why(demo: TestClient) -> None:
    held = order(demo, "JY1300004")
    assert held["status"] == "saved" and held["on_hold"]
    assert "buyer remark" in held["hold_reason"]
    d11 = order(demo, "JY1300003")
    assert (d11["status"], d11["carrier"], d11["carrier_source"]) == (
        "audited",
        "SF",
        "double11-sf@1",
    )
    why = next(d for d in d11["decisions"] if d["check"] == "courier")
    assert why["rule_key"] == "double11-sf" and "total 1299.00 gte 999" in why["reason"]
    assert [h["to_status"] for h in d11["history"]] == ["new", "saved", "confirmed", "audited"]
    # the bundle reserved its components, and the gift rule added a gift line
    assert any(ln["gift"] for ln in d11["lines"])
    hunan = order(demo, "JY1300002")
    assert hunan["carrier_source"] == "hunan-sf@1"
    assert order(demo, "JY1300005")["carrier"] == "HTKY"  # the buyer's choice


def test_audit_steps_and_conflicts(demo: TestClient) -> None:
    no = "JY1300004"
    assert demo.post(f"/api/v1/orders/{no}/confirm", json={}).status_code == 409  # on hold
    assert demo.post(f"/api/v1/orders/{no}/unhold", json={"note": "remark read"}).status_code == 200
    assert demo.post(f"/api/v1/orders/{no}/confirm", json={}).status_code == 200
    assert demo.post(f"/api/v1/orders/{no}/audit").json()["status"] == "audited"
    again = demo.post(f"/api/v1/orders/{no}/audit")
    assert again.status_code == 409 and "already audited" in again.json()["detail"]


def test_release_pack_cancel_gives_a_task_and_downlink(demo: TestClient, engine_of: Engine) -> None:
    no = "JY1300002"
    r = demo.post(f"/api/v1/orders/{no}/release")
    assert r.json()["status"] == "released" and r.json()["version"] == 1
    ev = OrderPicked(
        node=NODE,
        epoch=1,
        seq=1,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=OrderPickedPayload(
            order_id=no,
            version=1,
            station=NODE,
            lines=[
                PickedLine(
                    line_id="1",
                    sku_code="迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金",
                    qty=2,
                    bin="A-02",
                )
            ],
        ),
    )
    sessions = session_factory(engine_of)
    for _ in range(2):  # a replay changes nothing
        with transaction(sessions) as s:
            apply_batch(s, Batch(node=NODE, events=(ev,)), datetime.now(UTC))
    assert order(demo, no)["status"] == "picked"
    picks = demo.get("/api/v1/stock/movements", params={"document": f"order:{no}"}).json()
    assert [m["kind"] for m in picks].count("pick") == 1
    assert (
        demo.post(f"/api/v1/orders/{no}/cancel", json={"reason": "buyer cancelled"}).json()[
            "status"
        ]
        == "cancelled"
    )
    packed = OrderPacked(
        node=NODE,
        epoch=1,
        seq=2,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=OrderPackedPayload(
            order_id=no,
            version=1,
            station=NODE,
            items=[PackedItem(line_id="1", sku_code="x", qty=2)],
        ),
    )
    with transaction(sessions) as s:
        apply_batch(s, Batch(node=NODE, events=(packed,)), datetime.now(UTC))
    tasks = demo.get("/api/v1/tasks").json()
    assert any(
        t["kind"] == "fact_conflict" and no in t["detail"] and "cancelled" in t["detail"]
        for t in tasks
    )
    assert order(demo, no)["status"] == "cancelled"
    with transaction(sessions) as s:
        from cloud.catalogue.nodes import downlink_after
        from cloud.db.models import Node

        node = s.get(Node, NODE)
        assert node is not None
        rel = [
            c.payload for c in downlink_after(s, node, 0, 1000).changes if c.type == "order.release"
        ]
    assert [(p.order_id, p.version, p.status) for p in rel if p.order_id == no] == [
        (no, 1, "released"),
        (no, 2, "cancelled"),
    ]


def test_wrong_warehouse_fix_as_the_manual_says(demo: TestClient) -> None:
    """冲销出库 → 驳回 → change warehouse → audit again; and 撤销出库 for an unshipped order."""
    demo.post("/api/v1/warehouses", json={"code": "WH2", "name": "门店"})
    demo.post(
        "/api/v1/stock/receipts",
        json={
            "warehouse": "WH2",
            "sku_code": "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金",
            "qty": 5,
        },
    )
    no = "JY1300001"
    demo.post(f"/api/v1/orders/{no}/release")
    assert demo.post(f"/api/v1/orders/{no}/reject", json={"reason": "仓库有误"}).status_code == 409
    assert (
        demo.post(f"/api/v1/orders/{no}/cancel-outbound", json={"reason": "仓库有误"}).json()[
            "status"
        ]
        == "audited"
    )
    # ship a second order, then reverse its outbound: stock comes back
    other = "JY1300005"
    assert demo.post(f"/api/v1/orders/{other}/ship").status_code == 409  # not released yet
    demo.post(f"/api/v1/orders/{other}/release")

    def level():
        return demo.get(
            "/api/v1/stock/warehouses/WH1", params={"columns": "on_hand,reserved", "q": "鸟语花香"}
        ).json()[0]

    before = level()
    assert demo.post(f"/api/v1/orders/{other}/ship").json()["status"] == "shipped"
    assert level()["on_hand"] == before["on_hand"] - 1
    assert demo.post(f"/api/v1/orders/{other}/ship").status_code == 409
    assert (
        demo.post(f"/api/v1/orders/{other}/reverse-outbound", json={"reason": "仓库有误"}).json()[
            "status"
        ]
        == "audited"
    )
    assert level() == before
    twice = demo.post(f"/api/v1/orders/{other}/reverse-outbound", json={"reason": "again"})
    assert twice.status_code == 409
    # 驳回 then change the warehouse and audit again
    assert (
        demo.post(f"/api/v1/orders/{no}/reject", json={"reason": "仓库有误"}).json()["status"]
        == "new"
    )
    assert (
        demo.patch(f"/api/v1/orders/{no}", json={"warehouse": "WH2"}).json()["warehouse"] == "WH2"
    )
    assert demo.post(f"/api/v1/orders/{no}/save").json()["status"] == "saved"
    demo.post(f"/api/v1/orders/{no}/confirm", json={})
    done = demo.post(f"/api/v1/orders/{no}/audit").json()
    assert (done["status"], done["warehouse"], done["reserved"]) == ("audited", "WH2", True)
    assert [h["action"] for h in done["history"]][-5:] == [
        "reject",
        "edit",
        "save",
        "confirm",
        "audit",
    ]


def test_stock_never_negative_without_override_and_levels_are_the_ledger(demo: TestClient) -> None:
    sku = "GIFT 贴膜"
    r = demo.post(
        "/api/v1/stock/adjustments",
        json={"warehouse": "WH1", "sku_code": sku, "delta": -10_000, "reason": "lost"},
    )
    assert r.status_code == 409 and "negative" in r.json()["detail"]
    ok = demo.post(
        "/api/v1/stock/adjustments",
        json={
            "warehouse": "WH1",
            "sku_code": sku,
            "delta": -10_000,
            "reason": "written off",
            "override": True,
        },
    )
    assert ok.status_code == 201
    mv = demo.get("/api/v1/stock/movements", params={"sku_code": sku}).json()[-1]
    assert mv["override"] and mv["reason"] == "written off"
    picker = make_account(demo, "demo", role="picker", account_id=2)
    assert (
        demo.post(
            "/api/v1/stock/adjustments",
            headers=picker,
            json={"warehouse": "WH1", "sku_code": sku, "delta": 1, "reason": "x"},
        ).status_code
        == 403
    )
    receipt = demo.post(
        "/api/v1/stock/receipts",
        json={
            "warehouse": "WH1",
            "sku_code": "MKING IPAD AIR2 金甲系列皮套-金色",
            "qty": 3,
            "po_number": "PO-2026-001",
        },
    ).json()["ids"][0]
    view = demo.get(
        "/api/v1/stock/warehouses/WH1",
        params={"columns": "inbound,channel_stock,purchases", "q": "皮套 mking 金色"},
    ).json()
    assert [v["sku_code"] for v in view] == [
        "BCP IPAD AIR2 金甲系列皮套-金色",
        "MKING IPAD AIR2 金甲系列皮套-金色",
    ]
    view = view[1:]
    assert view[0]["inbound"] == 97 and view[0]["purchases"][0]["po_number"] == "PO-2026-001"
    assert (
        demo.post(
            f"/api/v1/stock/movements/{receipt}/cancel-receipt", json={"reason": "wrong PO"}
        ).status_code
        == 201
    )
    assert (
        demo.post(
            f"/api/v1/stock/movements/{receipt}/cancel-receipt", json={"reason": "again"}
        ).status_code
        == 409
    )
    assert (
        demo.get(
            "/api/v1/stock/warehouses/WH1", params={"columns": "inbound", "q": "mking 金色 金甲 -"}
        ).json()[1]["inbound"]
        == 100
    )
    with demo.app.state.sessions() as s:  # type: ignore[attr-defined]
        derived = rebuild_levels(s, 2)
        for lv in s.execute(select(StockLevel).where(StockLevel.account_id == 2)).scalars():
            got = {
                "on_hand": lv.on_hand,
                "reserved": lv.reserved,
                "damaged": lv.damaged,
                "qc": lv.qc,
                "hold": lv.hold,
            }
            assert derived.get((lv.warehouse_id, lv.sku_code), dict.fromkeys(got, 0)) == got


def test_overview_and_channel_stock(demo: TestClient) -> None:
    rows = {r["sku_code"]: r for r in demo.get("/api/v1/stock/overview").json()}
    own = rows["MKING IPAD AIR2 金甲系列皮套-金色"]
    # own brand: available + in transit (100) + what the BCP parts can make (30)
    assert own["channel_stock"] == own["available"] + 100 + 30
    assert rows["SET 皮套+保护壳"]["channel_stock"] >= 0
    assert set(own["warehouses"]) == {"WH1"}
    bad = demo.get("/api/v1/stock/warehouses/WH1", params={"columns": "on_hand,colour"})
    assert bad.status_code == 422 and "colour" in str(bad.json())


def test_concurrent_reservations_of_the_last_unit_have_one_winner(
    demo: TestClient, engine_of: Engine
) -> None:
    demo.put(
        "/api/v1/skus/LAST", json={"sku_code": "LAST", "name": "last one", "barcodes": ["LAST-1"]}
    )
    demo.post("/api/v1/stock/receipts", json={"warehouse": "WH1", "sku_code": "LAST", "qty": 1})
    sessions = session_factory(engine_of)

    def body(n):
        return orders.OrderIn.model_validate(
            {
                "order_no": f"RACE-{n}",
                "buyer_nick": "b",
                "recipient": {
                    "name": "a",
                    "phone": "138",
                    "province": "北京市",
                    "city": "北京市",
                    "district": "海淀区",
                    "address": "中关村大街1号",
                },
                "lines": [{"line_id": "1", "sku_code": "LAST", "qty": 1, "price_cents": 100}],
            }
        )

    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            with transaction(sessions) as s:
                arrival.create_orders(s, 2, [body(n)], "test", datetime.now(UTC))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = [order(demo, f"RACE-{n}")["reserved"] for n in range(6)]
    assert got.count(True) == 1
    lv = demo.get(
        "/api/v1/stock/warehouses/WH1",
        params={"columns": "on_hand,reserved,available", "q": "LAST"},
    ).json()[0]
    assert (lv["on_hand"], lv["reserved"], lv["available"]) == (1, 1, 0)


def test_tenancy_b_sees_and_changes_nothing_of_a(demo: TestClient) -> None:
    b = make_account(demo, "other")
    sku = "MKING IPAD AIR2 金甲系列皮套-金色"
    probes = [
        ("get", "/api/v1/orders/JY1300001", None),
        ("post", "/api/v1/orders/JY1300001/release", None),
        ("post", "/api/v1/orders/JY1300001/cancel", {"reason": "x"}),
        ("post", "/api/v1/orders/JY1300001/hold", {"reason": "x"}),
        ("patch", "/api/v1/orders/JY1300001", {"seller_note": "x"}),
        ("post", "/api/v1/orders/JY1300004/save", None),
        ("post", "/api/v1/orders/JY1300001/reject", {"reason": "x"}),
        ("post", "/api/v1/orders/JY1300001/split", {"lines": [{"line_id": "1", "qty": 1}]}),
        ("get", f"/api/v1/skus/{sku}", None),
        ("get", "/api/v1/warehouses/WH1/bins", None),
        (
            "put",
            "/api/v1/warehouses/WH1/bins",
            {"bins": [{"code": "X", "zone": "pick", "x": 0, "y": 0, "walk_order": 1}]},
        ),
        ("get", "/api/v1/stock/warehouses/WH1", None),
        ("post", "/api/v1/stock/receipts", {"warehouse": "WH1", "sku_code": sku, "qty": 1}),
        ("put", f"/api/v1/nodes/{NODE}/assignment", {"warehouse": "WH1"}),
        ("get", f"/api/v1/nodes/{NODE}", None),
        ("get", "/api/v1/rules/double11-sf/versions", None),
    ]
    for method, url, body in probes:
        r = demo.request(method, url, headers=b, json=body)
        assert r.status_code in (404, 409, 422), (url, r.status_code, r.text)
    for url in [
        "/api/v1/orders",
        "/api/v1/skus",
        "/api/v1/stock/overview",
        "/api/v1/rules",
        "/api/v1/carriers",
        "/api/v1/tasks",
        "/api/v1/warehouses",
        "/api/v1/nodes",
        "/api/v1/stock/movements",
        "/api/v1/events",
    ]:
        assert demo.get(url, headers=b).json() == [], url
    assert [u["username"] for u in demo.get("/api/v1/users", headers=b).json()] == ["other-admin"]
    # B may use A's codes for its own objects without touching A's
    assert (
        demo.put(
            f"/api/v1/skus/{sku}",
            headers=b,
            json={"sku_code": sku, "name": "B's", "barcodes": ["6901234567892"]},
        ).status_code
        == 200
    )
    assert demo.get(f"/api/v1/skus/{sku}").json()["name"] == "金甲系列皮套 金色"


def test_auth(app_client: TestClient) -> None:
    make_account(app_client, "acme")
    bad = app_client.post(
        "/api/v1/auth/token",
        data={"account": "acme", "username": "acme-admin", "password": "wrong password"},
    )
    unknown = app_client.post(
        "/api/v1/auth/token",
        data={"account": "acme", "username": "nobody", "password": "wrong password"},
    )
    elsewhere = app_client.post(
        "/api/v1/auth/token",
        data={"account": "nowhere", "username": "acme-admin", "password": "wrong password"},
    )
    assert bad.status_code == unknown.status_code == elsewhere.status_code == 401
    assert bad.json() == unknown.json() == elsewhere.json()
    assert app_client.get("/api/v1/orders").status_code == 401
    assert (
        app_client.get("/api/v1/orders", headers={"Authorization": "Bearer nonsense"}).status_code
        == 401
    )
    ro = make_account(app_client, "acme", role="readonly", account_id=2)
    assert app_client.get("/api/v1/orders", headers=ro).status_code == 200
    r = app_client.post("/api/v1/orders/X/audit", headers=ro)
    assert r.status_code == 403 and "orders:audit" in r.json()["detail"]
    assert app_client.get("/api/v1/health").status_code == 200


def test_rules_are_versioned_data(demo: TestClient) -> None:
    rule = {
        "kind": "courier",
        "name": "湖南发中通",
        "priority": 20,
        "conditions": [{"field": "province", "op": "eq", "value": "湖南"}],
        "action": {"carrier": "ZTO"},
    }
    assert demo.put("/api/v1/rules/hunan-sf", json=rule).json()["version"] == 2
    versions = demo.get("/api/v1/rules/hunan-sf/versions").json()
    assert [(v["version"], v["superseded_at"] is None) for v in versions] == [(1, False), (2, True)]
    bad = demo.put(
        "/api/v1/rules/x",
        json={**rule, "conditions": [{"field": "date", "op": "between", "value": ["2026-11-01"]}]},
    )
    assert bad.status_code == 422
    assert (
        demo.put(
            "/api/v1/rules/y", json={**rule, "action": {"carrier": "SF", "use": "lowest_cost"}}
        ).status_code
        == 422
    )


def test_orders_by_api_validate(demo: TestClient) -> None:
    base = {
        "order_no": "M1",
        "buyer_nick": "b",
        "recipient": {
            "name": "a",
            "phone": "138",
            "province": "火星",
            "city": "基地",
            "district": "一区",
            "address": "一号坑",
        },
        "lines": [{"line_id": "1", "sku_code": "GIFT 贴膜", "qty": 1, "price_cents": 0}],
    }
    r = demo.post("/api/v1/orders", json={"orders": [base]})
    assert r.status_code == 201
    o = r.json()[0]
    assert o["on_hold"] and "province" in o["hold_reason"] and "price" not in o["status"]
    assert demo.post("/api/v1/orders", json={"orders": [base]}).status_code == 409
    unknown = demo.post(
        "/api/v1/orders",
        json={
            "orders": [
                {
                    **base,
                    "order_no": "M2",
                    "lines": [{"line_id": "1", "sku_code": "NOPE", "qty": 1}],
                }
            ]
        },
    )
    assert unknown.status_code == 422 and "NOPE" in str(unknown.json())
    assert (
        demo.post(
            "/api/v1/orders", json={"orders": [{**base, "order_no": "M3", "lines": []}]}
        ).status_code
        == 422
    )


def test_csv_import_is_all_or_nothing_and_exports_back(client: TestClient) -> None:
    good = "sku_code,name,barcodes,kind,components,weight_g\nBCP A,part,111,component,,5\nSET,set,222|333,bundle,BCP A*2,\n"
    bad = good + "X,,444,item,,\nY,y,111,item,,-3\n"
    r = client.post(
        "/api/v1/skus/import", content=bad.encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 422
    assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(4, "name"), (5, "weight_g")]
    assert client.get("/api/v1/skus").json() == []
    assert client.post(
        "/api/v1/skus/import", content=good.encode(), headers={"content-type": "text/csv"}
    ).json() == {"imported": 2}
    xlsx = client.get("/api/v1/skus/export", params={"format": "xlsx"}).content
    again = client.post(
        "/api/v1/skus/import",
        content=xlsx,
        headers={
            "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        },
    )
    assert again.json() == {"imported": 2}, again.text
    assert client.get("/api/v1/skus/SET").json()["components"] == [{"sku_code": "BCP A", "qty": 2}]
