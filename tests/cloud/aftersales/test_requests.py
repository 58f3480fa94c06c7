"""After-sales requests through the API: a return QC'd into sellable and damaged stock with
its refund instructions, an exchange that ships a new order, a refund only, a rejection —
and customer service's view of each request's history (docs/inbound.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi.testclient import TestClient

from cloud.accounts import create_account
from cloud.db.models import Warehouse
from tests.cloud.aftersales.conftest import Shipped, level, new_sku, ok, order

AS = "/api/v1/aftersales"


def _return(demo: TestClient, s: Shipped, qty: int = 2, kind: str = "return") -> str:
    body = {"order_no": s.order_no, "kind": kind, "lines": [{"order_line_id": "1", "qty": qty}]}
    r = demo.post(AS, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "requested" and out["number"] == f"AS-{s.order_no}-1"
    return str(out["number"])


def test_a_return_goes_back_to_sellable_and_damaged_and_finance_gets_the_refund(
    demo: TestClient, shipped: Shipped
) -> None:
    ok(demo.put("/api/v1/aftersales-settings", json={"damaged_warehouse": None}))
    no = _return(demo, shipped, qty=3)
    before, dmg_before = level(demo, shipped.sku), level(demo, shipped.sku, "DMG")
    ok(demo.post(f"{AS}/{no}/approve", json={"note": "买家寄回"}))
    receipt = {
        "receipt_id": f"RR-{no}",
        "warehouse": "WH1",
        "return_waybill": "SF1234567890",
        "lines": [
            {
                "line_no": 1,
                "sku_code": shipped.sku,
                "sellable": 1,
                "damaged": 1,
                "missing": 1,
                "reason": "屏幕碎了",
            }
        ],
    }
    r = demo.post(f"{AS}/{no}/receive", json=receipt)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["status"] == "received" and got["new"] is True
    assert got["return_waybill"] == "SF1234567890"
    line = got["lines"][0]
    assert (line["sellable"], line["damaged"], line["missing"], line["damage_reason"]) == (
        1,
        1,
        1,
        "屏幕碎了",
    )
    after = level(demo, shipped.sku)
    assert after["on_hand"] == before["on_hand"] + 1
    assert after["damaged"] == before["damaged"] + 1  # no damaged warehouse configured
    assert level(demo, shipped.sku, "DMG") == dmg_before
    # Refund: the two units that came back at 19.99, as a string (Decimal), not the missing one.
    assert [(x["qty"], x["amount"], x["status"]) for x in got["refunds"]] == [
        (2, "39.98", "pending")
    ]
    refunds = ok(demo.get("/api/v1/aftersales-refunds", params={"limit": 1000}))
    assert next(x for x in refunds if x["request"] == no)["amount"] == "39.98"
    # Missing units: a task for a person.
    tasks = ok(demo.get("/api/v1/tasks", params={"limit": 1000}))
    assert any(no in t["detail"] and "1 missing" in t["detail"] for t in tasks)
    # Movements carry the request as document.
    moves = ok(demo.get("/api/v1/stock/movements", params={"limit": 1000}))
    mine = [m for m in moves if m.get("document") == f"as:{no}"]
    assert sorted((m["kind"], m["bucket"], m["qty_delta"]) for m in mine) == [
        ("return", "damaged", 1),
        ("return", "sellable", 1),
    ]
    ok(demo.post(f"{AS}/{no}/close", json={}))
    view = ok(demo.get(f"{AS}/{no}"))
    assert view["status"] == "closed"
    assert [(h["action"], h["from_status"], h["to_status"]) for h in view["history"]] == [
        ("create", None, "requested"),
        ("approve", "requested", "approved"),
        ("receive", "approved", "received"),
        ("close", "received", "closed"),
    ]
    assert view["history"][1]["reason"] == "买家寄回"


def test_damaged_returns_go_to_the_damaged_warehouse_when_one_is_configured(
    demo: TestClient, shipped: Shipped
) -> None:
    ok(demo.put("/api/v1/aftersales-settings", json={"damaged_warehouse": "DMG"}))
    try:
        assert ok(demo.get("/api/v1/aftersales-settings"))["damaged_warehouse"] == "DMG"
        no = _return(demo, shipped, qty=2)
        ok(demo.post(f"{AS}/{no}/approve", json={}))
        wh1, dmg = level(demo, shipped.sku), level(demo, shipped.sku, "DMG")
        ok(
            demo.post(
                f"{AS}/{no}/receive",
                json={
                    "receipt_id": f"RR-{no}",
                    "warehouse": "WH1",
                    "lines": [
                        {
                            "line_no": 1,
                            "sku_code": shipped.sku,
                            "sellable": 1,
                            "damaged": 1,
                            "reason": "进水",
                        }
                    ],
                },
            )
        )
        assert level(demo, shipped.sku)["on_hand"] == wh1["on_hand"] + 1
        assert level(demo, shipped.sku)["damaged"] == wh1["damaged"]
        assert level(demo, shipped.sku, "DMG")["damaged"] == dmg["damaged"] + 1
    finally:
        ok(demo.put("/api/v1/aftersales-settings", json={"damaged_warehouse": None}))


def test_refunds_share_the_orders_discount_half_up(demo: TestClient) -> None:
    sku, _ = new_sku(demo)
    other, _ = new_sku(demo)
    lines = [
        {"line_id": "1", "sku_code": sku, "qty": 3, "price_cents": 1999},
        {"line_id": "2", "sku_code": other, "qty": 1, "price_cents": 500},
    ]
    no = order(demo, lines, total_cents=6000)  # 64.97 listed, 60.00 paid
    r = ok(
        demo.post(
            AS,
            json={
                "order_no": no,
                "kind": "refund_only",
                "lines": [{"order_line_id": "1", "qty": 2}],
            },
        )
    )
    want = (Decimal(1999) * Decimal(6000) / Decimal(6497) / 100 * 2).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert r["lines"][0]["amount"] == str(want) == "36.92"
    done = ok(demo.post(f"{AS}/{r['number']}/approve", json={}))
    # refund only: closed at approval, nothing comes back, the refund is written
    assert done["status"] == "closed"
    assert [(x["qty"], x["amount"]) for x in done["refunds"]] == [(2, "36.92")]
    assert [h["to_status"] for h in done["history"]] == ["requested", "approved", "closed"]


def test_an_exchange_ships_a_new_order_once_the_return_is_received(
    demo: TestClient, shipped: Shipped
) -> None:
    swap, _ = new_sku(demo)
    r = ok(
        demo.post(
            AS,
            json={
                "order_no": shipped.order_no,
                "kind": "exchange",
                "reason": "尺码不对",
                "lines": [{"order_line_id": "1", "qty": 1, "exchange_sku_code": swap}],
            },
        )
    )
    no = r["number"]
    assert ok(demo.post(f"{AS}/{no}/approve", json={}))["exchange_order_no"] is None
    got = ok(
        demo.post(
            f"{AS}/{no}/receive",
            json={
                "receipt_id": f"RR-{no}",
                "warehouse": "WH1",
                "lines": [{"line_no": 1, "sku_code": shipped.sku, "sellable": 1}],
            },
        )
    )
    hh = got["exchange_order_no"]
    assert hh == f"HH-{no}" and got["refunds"] == []
    new = ok(demo.get(f"/api/v1/orders/{hh}"))
    assert [(ln["sku_code"], ln["qty"], ln["price_cents"]) for ln in new["lines"]] == [(swap, 1, 0)]
    assert new["recipient"]["name"] == "退货买家" and no in new["seller_note"]
    assert "exchange" in [h["action"] for h in ok(demo.get(f"{AS}/{no}"))["history"]]


def test_an_exchange_can_ship_at_approval(demo: TestClient, shipped: Shipped) -> None:
    ok(demo.put("/api/v1/aftersales-settings", json={"exchange_at": "approval"}))
    try:
        no = _return(demo, shipped, qty=1, kind="exchange")
        got = ok(demo.post(f"{AS}/{no}/approve", json={}))
        assert got["exchange_order_no"] == f"HH-{no}"
        ok(demo.get(f"/api/v1/orders/HH-{no}"))
        # received later: no second order
        got = ok(
            demo.post(
                f"{AS}/{no}/receive",
                json={
                    "receipt_id": f"RR-{no}",
                    "warehouse": "WH1",
                    "lines": [{"line_no": 1, "sku_code": shipped.sku, "sellable": 1}],
                },
            )
        )
        assert got["exchange_order_no"] == f"HH-{no}"
    finally:
        ok(demo.put("/api/v1/aftersales-settings", json={"exchange_at": "received"}))


def test_a_rejected_request_keeps_its_reason_and_frees_the_line(
    demo: TestClient, shipped: Shipped
) -> None:
    no = _return(demo, shipped, qty=3)
    ok(demo.post(f"{AS}/{no}/approve", json={}))
    got = ok(demo.post(f"{AS}/{no}/reject", json={"reason": "超过七天无理由退货期限"}))
    assert got["status"] == "rejected" and got["history"][-1]["reason"] == "超过七天无理由退货期限"
    # the three units can be asked back again by a new request
    r = demo.post(
        AS,
        json={
            "order_no": shipped.order_no,
            "kind": "return",
            "lines": [{"order_line_id": "1", "qty": 3}],
        },
    )
    assert r.status_code == 201, r.text
    listed = ok(demo.get(AS, params={"order_no": shipped.order_no}))
    assert sorted(x["status"] for x in listed) == ["rejected", "requested"]


def test_an_exchange_ships_only_what_came_back(demo: TestClient, shipped: Shipped) -> None:
    no = _return(demo, shipped, qty=3, kind="exchange")
    ok(demo.post(f"{AS}/{no}/approve", json={}))
    line = {"line_no": 1, "sku_code": shipped.sku}
    got = ok(
        demo.post(
            f"{AS}/{no}/receive",
            json={
                "receipt_id": f"RR-{no}",
                "warehouse": "WH1",
                "lines": [{**line, "sellable": 1, "missing": 2}],
            },
        )
    )
    new = ok(demo.get(f"/api/v1/orders/{got['exchange_order_no']}"))
    assert [(ln["sku_code"], ln["qty"]) for ln in new["lines"]] == [(shipped.sku, 1)]
    # nothing came back: no exchange order, a task for the missing units
    other, _ = new_sku(demo)
    o2 = order(demo, [{"line_id": "1", "sku_code": other, "qty": 1, "price_cents": 100}])
    r = ok(
        demo.post(
            AS,
            json={"order_no": o2, "kind": "exchange", "lines": [{"order_line_id": "1", "qty": 1}]},
        )
    )
    ok(demo.post(f"{AS}/{r['number']}/approve", json={}))
    got = ok(
        demo.post(
            f"{AS}/{r['number']}/receive",
            json={
                "receipt_id": f"RR-{r['number']}",
                "warehouse": "WH1",
                "lines": [{"line_no": 1, "sku_code": other, "missing": 1}],
            },
        )
    )
    assert got["status"] == "received" and got["exchange_order_no"] is None
    assert demo.get(f"/api/v1/orders/HH-{r['number']}").status_code == 404


def test_a_warehouse_routes_its_damaged_returns_to_its_damaged_goods_warehouse(
    demo: TestClient, shipped: Shipped
) -> None:
    """售后坏品仓 per receiving warehouse: WH1's damaged returns go to a damaged-goods
    warehouse of its own (before the account's setting); the movement is that warehouse's
    and says where the parcel arrived; a bad route is a 422 and changes nothing."""
    tag = uuid.uuid4().hex[:6].upper()
    bad_wh, main_wh = f"DMG-{tag}", f"MAIN-{tag}"
    ok(
        demo.post(
            "/api/v1/warehouses", json={"code": bad_wh, "name": "华东坏品仓", "kind": "damaged"}
        )
    )
    ok(demo.post("/api/v1/warehouses", json={"code": main_wh, "name": "二号仓"}))
    route = "/api/v1/warehouses/WH1/damaged-warehouse"
    assert ok(demo.get(route)) == {"warehouse": "WH1", "damaged_warehouse": "WH1", "via": "bucket"}
    # Another seller's damaged warehouse: its code is no warehouse of this account.
    app: Any = demo.app
    with app.state.sessions() as s, s.begin():
        other = create_account(s, f"另一卖家-{tag}", datetime.now(UTC))
        s.add(
            Warehouse(
                account_id=other.id,
                code=f"THEIRS-{tag}",
                name="别人的坏品仓",
                kind="damaged",
                changed_by="test",
                changed_at=datetime.now(UTC),
            )
        )
    refused = {
        f"THEIRS-{tag}": "no warehouse",
        "WH1": "cannot be its own damaged-goods warehouse",
        main_wh: "not a damaged-goods warehouse",
    }
    for code, says in refused.items():
        r = demo.put(route, json={"damaged_warehouse": code})
        assert r.status_code == 422 and says in r.text, r.text
        assert ok(demo.get(route))["via"] == "bucket"  # nothing changed
    assert (
        demo.put(
            "/api/v1/warehouses/NO-SUCH/damaged-warehouse", json={"damaged_warehouse": bad_wh}
        ).status_code
        == 404
    )

    ok(demo.put("/api/v1/aftersales-settings", json={"damaged_warehouse": "DMG"}))
    try:
        assert ok(demo.get(route))["via"] == "account"
        assert ok(demo.put(route, json={"damaged_warehouse": bad_wh})) == {
            "warehouse": "WH1",
            "damaged_warehouse": bad_wh,
            "via": "warehouse",
        }
        no = _return(demo, shipped, qty=2)
        ok(demo.post(f"{AS}/{no}/approve", json={}))
        wh1, dmg, mine = (level(demo, shipped.sku, w) for w in ("WH1", "DMG", bad_wh))
        receipt = {
            "receipt_id": f"RR-{no}",
            "warehouse": "WH1",
            "lines": [
                {
                    "line_no": 1,
                    "sku_code": shipped.sku,
                    "sellable": 1,
                    "damaged": 1,
                    "reason": "摔坏",
                }
            ],
        }
        ok(demo.post(f"{AS}/{no}/receive", json=receipt))
        ok(demo.post(f"{AS}/{no}/receive", json=receipt))  # resent: booked once
        assert level(demo, shipped.sku)["on_hand"] == wh1["on_hand"] + 1
        assert level(demo, shipped.sku)["damaged"] == wh1["damaged"]
        assert level(demo, shipped.sku, "DMG") == dmg  # the route comes before the account's
        assert level(demo, shipped.sku, bad_wh)["damaged"] == mine["damaged"] + 1
        moves = ok(demo.get("/api/v1/stock/movements", params={"limit": 1000}))
        damaged = [m for m in moves if m["document"] == f"as:{no}" and m["bucket"] == "damaged"]
        assert [(m["warehouse"], m["kind"], m["qty_delta"]) for m in damaged] == [
            (bad_wh, "return", 1)
        ]
        assert "received at WH1" in damaged[0]["reason"]
        # The route taken away: the account's setting again.
        assert ok(demo.put(route, json={"damaged_warehouse": None}))["via"] == "account"
    finally:
        ok(demo.put("/api/v1/aftersales-settings", json={"damaged_warehouse": None}))
        ok(demo.put(route, json={"damaged_warehouse": None}))
    assert ok(demo.get(route))["via"] == "bucket"
