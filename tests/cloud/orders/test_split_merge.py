"""Split (拆单) and merge (并单) of orders, over the API (docs/cloud.md "Orders").

Split moves the given line quantities to a new order ``{order_no}-S{n}``; merge ships
several orders of one buyer to one address, from one warehouse, as the first of them. Both
work before the audit completes (new, saved, confirmed). What they must keep: every unit
of every line (in one order or the other), the stock the orders hold reserved, and a
history entry on each order touched saying who did it and why. A refused request changes
nothing at all: the orders' detail, the stock levels and the order list are compared.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cloud.db.models import SalesOrder
from cloud.seed import BEIJING, HUNAN, seed_demo
from tests.cloud.conftest import PASSWORD, account_id_of, login, make_account

SET = "SET 皮套+保护壳"  # bundle: one cover + one phone case
COVER = "MKING IPAD AIR2 金甲系列皮套-金色"
PHONE_CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
FILM = "GIFT 贴膜"
ADMIN = "user:admin"


@pytest.fixture
def shop(app_client: TestClient) -> TestClient:
    """The demo seller (WH1 stocked, courier and gift rules), logged in as its admin."""
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=["wh1-pack-1"])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def ok(r: Any) -> Any:
    assert r.status_code < 300, (r.request.method, str(r.request.url), r.status_code, r.text)
    return r.json()


def create(
    c: TestClient,
    no: str,
    lines: list[tuple[str, int, int]],
    *,
    buyer: str = "合单买家",
    recipient: dict[str, str] = BEIJING,
    auto_audit: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One order: lines of (sku, qty, price in cents), numbered "1", "2", ..."""
    body = {
        "order_no": no,
        "buyer_nick": buyer,
        "recipient": recipient,
        "lines": [
            {"line_id": str(i + 1), "sku_code": s, "qty": q, "price_cents": p}
            for i, (s, q, p) in enumerate(lines)
        ],
        **extra,
    }
    (out,) = ok(c.post("/api/v1/orders", json={"orders": [body], "auto_audit": auto_audit}))
    return out  # type: ignore[no-any-return]


def detail(c: TestClient, no: str) -> dict[str, Any]:
    return ok(c.get(f"/api/v1/orders/{no}"))  # type: ignore[no-any-return]


def lines(o: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return [(ln["line_id"], ln["sku_code"], ln["qty"], ln["price_cents"]) for ln in o["lines"]]


def units(*orders: dict[str, Any]) -> Counter[str]:
    """Units per SKU over the orders' lines."""
    n: Counter[str] = Counter()
    for o in orders:
        for ln in o["lines"]:
            n[ln["sku_code"]] += ln["qty"]
    return n


def levels(c: TestClient) -> dict[str, tuple[int, int, int]]:
    """WH1 as the F10 view shows it: on hand, reserved, available per SKU."""
    rows = ok(
        c.get(
            "/api/v1/stock/warehouses/WH1",
            params={"columns": "on_hand,reserved,available", "limit": 1000},
        )
    )
    return {r["sku_code"]: (r["on_hand"], r["reserved"], r["available"]) for r in rows}


def held(c: TestClient, no: str) -> Counter[str]:
    """What the ledger holds reserved for the order, per SKU (its movements' sum)."""
    n: Counter[str] = Counter()
    for m in ok(
        c.get("/api/v1/stock/movements", params={"document": f"order:{no}", "limit": 1000})
    ):
        n[m["sku_code"]] += m["reserved_delta"]
    return +n  # drops the SKUs whose reservations came back to zero


def order_list(c: TestClient) -> list[dict[str, Any]]:
    return ok(c.get("/api/v1/orders", params={"limit": 500}))  # type: ignore[no-any-return]


def state(c: TestClient, *nos: str) -> Any:
    """Everything a refused split or merge must leave as it was."""
    return [detail(c, no) for no in nos], levels(c), order_list(c)


def to_status(c: TestClient, no: str, status: str) -> None:
    """Move an auto-audited order on: released, shipped or cancelled."""
    if status in ("released", "shipped"):
        ok(c.post(f"/api/v1/orders/{no}/release"))
    if status == "shipped":
        ok(c.post(f"/api/v1/orders/{no}/ship"))
    if status == "cancelled":
        ok(c.post(f"/api/v1/orders/{no}/cancel", json={"reason": "buyer cancelled"}))
    assert detail(c, no)["status"] == status


# --- split --------------------------------------------------------------------------------


def test_split_moves_line_quantities_to_a_new_order_and_keeps_the_reservation(
    shop: TestClient,
) -> None:
    c = shop
    create(c, "S-1", [(SET, 1, 129900), (PHONE_CASE, 3, 5900), (FILM, 2, 100)])
    parent_before = detail(c, "S-1")
    assert parent_before["reserved"] and parent_before["status"] == "new"
    stock_before, held_before = levels(c), held(c, "S-1")
    assert held_before == {COVER: 1, PHONE_CASE: 4, FILM: 2}  # the bundle holds its parts

    r = c.post(
        "/api/v1/orders/S-1/split",
        json={"lines": [{"line_id": "1", "qty": 1}, {"line_id": "2", "qty": 2}]},
    )
    child = ok(r)
    parent = detail(c, "S-1")
    assert child == detail(c, "S-1-S1")  # the answer is the new order's detail
    assert (child["order_no"], child["split_from"], child["status"]) == ("S-1-S1", "S-1", "new")
    assert lines(child) == [("1", SET, 1, 129900), ("2", PHONE_CASE, 2, 5900)]
    assert lines(parent) == [("2", PHONE_CASE, 1, 5900), ("3", FILM, 2, 100)]
    assert units(parent, child) == units(parent_before)
    for key in ("buyer_nick", "recipient", "warehouse", "channel"):
        assert child[key] == parent_before[key], key

    # The reservation is split with the lines: nothing freed, nothing reserved twice.
    assert parent["reserved"] and child["reserved"]
    assert held(c, "S-1-S1") == {COVER: 1, PHONE_CASE: 3}
    assert held(c, "S-1") == {PHONE_CASE: 1, FILM: 2}
    assert held(c, "S-1") + held(c, "S-1-S1") == held_before
    assert levels(c) == stock_before

    # Who and why, on both orders.
    (born,) = child["history"]
    assert (born["action"], born["to_status"], born["actor"]) == ("split", "new", ADMIN)
    assert born["reason"] == "split from S-1"
    last = parent["history"][-1]
    assert (last["action"], last["from_status"], last["to_status"], last["actor"]) == (
        "split",
        "new",
        "new",
        ADMIN,
    )
    assert last["reason"] == "lines moved to S-1-S1"
    assert parent["history"][:-1] == parent_before["history"]

    # A second split numbers on; a line moved whole leaves the parent.
    second = ok(c.post("/api/v1/orders/S-1/split", json={"lines": [{"line_id": "3", "qty": 2}]}))
    assert second["order_no"] == "S-1-S2" and lines(second) == [("3", FILM, 2, 100)]
    assert lines(detail(c, "S-1")) == [("2", PHONE_CASE, 1, 5900)]
    assert units(detail(c, "S-1"), child, second) == units(parent_before)
    assert levels(c) == stock_before
    assert {"S-1", "S-1-S1", "S-1-S2"} <= {o["order_no"] for o in order_list(c)}


def test_a_split_order_and_its_child_go_through_the_audit_again(shop: TestClient) -> None:
    """A confirmed order goes back to ``new``; both halves are audited by the rules anew."""
    c = shop
    create(c, "S-2", [(COVER, 1, 12900), (PHONE_CASE, 2, 5900)])
    ok(c.post("/api/v1/orders/S-2/save"))
    assert ok(c.post("/api/v1/orders/S-2/confirm", json={}))["status"] == "confirmed"

    child = ok(c.post("/api/v1/orders/S-2/split", json={"lines": [{"line_id": "2", "qty": 2}]}))
    parent = detail(c, "S-2")
    assert parent["status"] == child["status"] == "new"
    assert parent["history"][-1]["from_status"] == "confirmed"
    assert child["decisions"] == []  # no check has run on the new order yet

    for no in ("S-2", "S-2-S1"):
        saved = ok(c.post(f"/api/v1/orders/{no}/save"))
        assert saved["status"] == "saved" and not saved["on_hold"], saved["hold_reason"]
        checks = {d["check"]: d for d in saved["decisions"]}
        assert checks["stock"]["outcome"] == "pass" and checks["address"]["outcome"] == "pass"
        assert checks["courier"]["rule_key"] is not None
        ok(c.post(f"/api/v1/orders/{no}/confirm", json={}))
        done = ok(c.post(f"/api/v1/orders/{no}/audit"))
        assert (done["status"], done["reserved"]) == ("audited", True)
        assert [h["action"] for h in done["history"]][-4:] == ["split", "save", "confirm", "audit"]


def test_split_recomputes_both_totals(shop: TestClient) -> None:
    c = shop
    create(c, "S-3", [(SET, 1, 129900), (PHONE_CASE, 3, 5900)])
    before = detail(c, "S-3")
    assert before["total_cents"] == 147600
    child = ok(c.post("/api/v1/orders/S-3/split", json={"lines": [{"line_id": "2", "qty": 3}]}))
    parent = detail(c, "S-3")
    assert child["total_cents"] == 3 * 5900
    assert parent["total_cents"] == 129900
    assert parent["total_cents"] + child["total_cents"] == before["total_cents"]
    # 177 yuan: the Double-11 rule (total ≥ 999 ships SF) is not the child's courier rule.
    saved = ok(c.post("/api/v1/orders/S-3-S1/save"))
    courier = next(d for d in saved["decisions"] if d["check"] == "courier")
    assert courier["rule_key"] != "double11-sf", courier["reason"]


def test_a_split_child_does_not_share_the_parents_waybill(shop: TestClient) -> None:
    c = shop
    create(c, "S-4", [(PHONE_CASE, 2, 5900)], auto_audit=True)
    waybill = ok(c.post("/api/v1/orders/S-4/release"))["tracking_number"]
    assert waybill
    ok(c.post("/api/v1/orders/S-4/cancel-outbound", json={"reason": "仓库有误"}))
    ok(c.post("/api/v1/orders/S-4/reject", json={"reason": "拆单"}))
    # Weighed at the pack station before the withdrawal (only an edge fact weighs an order).
    with c.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        s.execute(update(SalesOrder).where(SalesOrder.order_no == "S-4").values(weighed_g=512))
    child = ok(c.post("/api/v1/orders/S-4/split", json={"lines": [{"line_id": "1", "qty": 1}]}))
    parent = detail(c, "S-4")
    assert parent["tracking_number"] == waybill
    assert child["tracking_number"] is None
    # The weight was the whole parcel's: neither half weighs that any more.
    assert child["weighed_g"] is None and parent["weighed_g"] is None


def test_split_records_who_changed_the_parent(shop: TestClient) -> None:
    c = shop
    account = account_id_of(c)
    auditor = make_account(c, "demo", role="auditor", account_id=account)
    create(c, "S-5", [(PHONE_CASE, 2, 5900)])
    before = detail(c, "S-5")
    ok(
        c.post(
            "/api/v1/orders/S-5/split",
            headers=auditor,
            json={"lines": [{"line_id": "1", "qty": 1}]},
        )
    )
    parent = detail(c, "S-5")
    assert parent["history"][-1]["actor"] == "user:demo-auditor"
    assert parent["changed_by"] == "user:demo-auditor"
    assert parent["changed_at"] > before["changed_at"]


def test_a_held_orders_split_halves_stay_held(shop: TestClient) -> None:
    """A hold stops the goods, wherever the lines go: the new order is held as its parent."""
    c = shop
    create(c, "S-7", [(PHONE_CASE, 2, 5900), (FILM, 1, 100)])
    ok(c.post("/api/v1/orders/S-7/hold", json={"reason": "买家要求暂缓发货"}))
    child = ok(c.post("/api/v1/orders/S-7/split", json={"lines": [{"line_id": "1", "qty": 1}]}))
    parent = detail(c, "S-7")
    for o in (parent, child):
        assert (o["on_hold"], o["hold_reason"]) == (True, "买家要求暂缓发货"), o["order_no"]
    ok(c.post("/api/v1/orders/S-7-S1/save"))
    r = c.post("/api/v1/orders/S-7-S1/confirm", json={})
    assert r.status_code == 409 and "on hold" in r.json()["detail"]
    # Lifting the child's hold is a person's act on that order; the parent stays held.
    ok(c.post("/api/v1/orders/S-7-S1/unhold", json={"note": "buyer agreed"}))
    assert detail(c, "S-7")["on_hold"]


def test_refused_splits_change_nothing(shop: TestClient) -> None:
    """Bad input is a 422, an order past the audit a 409; neither leaves a trace."""
    c = shop
    create(c, "S-6", [(PHONE_CASE, 2, 5900), (FILM, 1, 100)])
    before = state(c, "S-6")
    bad: dict[str, Any] = {
        "no lines": [],
        "unknown line": [{"line_id": "9", "qty": 1}],
        "more than the line has": [{"line_id": "1", "qty": 3}],
        "more than the line has, in two entries": [
            {"line_id": "1", "qty": 2},
            {"line_id": "1", "qty": 1},
        ],
        "zero units": [{"line_id": "1", "qty": 0}],
        "negative units": [{"line_id": "1", "qty": -1}],
        "everything": [{"line_id": "1", "qty": 2}, {"line_id": "2", "qty": 1}],
        "everything, in three entries": [
            {"line_id": "1", "qty": 1},
            {"line_id": "1", "qty": 1},
            {"line_id": "2", "qty": 1},
        ],
        "no line id": [{"qty": 1}],
        "not a list": {"line_id": "1", "qty": 1},
    }
    for why, body in bad.items():
        r = c.post("/api/v1/orders/S-6/split", json={"lines": body})
        assert r.status_code == 422, (why, r.status_code, r.text)
        assert state(c, "S-6") == before, why
    assert c.post("/api/v1/orders/S-6/split", json={}).status_code == 422
    assert c.get("/api/v1/orders/S-6-S1").status_code == 404
    one = {"lines": [{"line_id": "1", "qty": 1}]}
    assert c.post("/api/v1/orders/NOPE/split", json=one).status_code == 404

    late = {"C-AUD": "audited", "C-REL": "released", "C-SHIP": "shipped", "C-CAN": "cancelled"}
    for no, status in late.items():
        create(c, no, [(PHONE_CASE, 2, 5900)], auto_audit=True)
        to_status(c, no, status)
    for no in late:
        before = state(c, no)
        r = c.post(f"/api/v1/orders/{no}/split", json=one)
        assert r.status_code == 409, (no, r.status_code, r.text)
        assert "before the audit completes" in r.json()["detail"]
        assert state(c, no) == before, no
        assert c.get(f"/api/v1/orders/{no}-S1").status_code == 404


# --- merge --------------------------------------------------------------------------------


def test_merge_combines_the_lines_into_the_first_order_and_keeps_the_reservation(
    shop: TestClient,
) -> None:
    c = shop
    create(c, "M-1", [(PHONE_CASE, 1, 5900)])
    create(c, "M-2", [(FILM, 2, 100), (PHONE_CASE, 1, 5900)])
    ok(c.post("/api/v1/orders/M-2/save"))
    create(c, "M-3", [(SET, 1, 129900)])
    ok(c.post("/api/v1/orders/M-3/save"))
    ok(c.post("/api/v1/orders/M-3/confirm", json={}))
    before = {no: detail(c, no) for no in ("M-1", "M-2", "M-3")}
    assert [o["status"] for o in before.values()] == ["new", "saved", "confirmed"]
    stock_before = levels(c)
    held_before = held(c, "M-1") + held(c, "M-2") + held(c, "M-3")

    head = ok(c.post("/api/v1/orders/merge", json={"order_nos": ["M-1", "M-2", "M-3"]}))
    assert head == detail(c, "M-1")
    assert (head["order_no"], head["status"], head["merged_into"]) == ("M-1", "new", None)
    assert lines(head) == [
        ("1", PHONE_CASE, 1, 5900),
        ("M-2:1", FILM, 2, 100),
        ("M-2:2", PHONE_CASE, 1, 5900),
        ("M-3:1", SET, 1, 129900),
    ]
    assert units(head) == units(*before.values())
    assert head["total_cents"] == sum(o["total_cents"] for o in before.values())
    last = head["history"][-1]
    assert (last["action"], last["to_status"], last["actor"], last["reason"]) == (
        "merge",
        "new",
        ADMIN,
        "merged M-2, M-3",
    )
    for no in ("M-2", "M-3"):
        gone = detail(c, no)
        assert (gone["status"], gone["merged_into"], gone["reserved"]) == (
            "cancelled",
            "M-1",
            False,
        )
        h = gone["history"][-1]
        assert (h["action"], h["from_status"], h["to_status"], h["actor"], h["reason"]) == (
            "merge",
            before[no]["status"],
            "cancelled",
            ADMIN,
            "merged into M-1",
        )
        assert held(c, no) == {}

    # The head holds everything the three held; the warehouse's totals did not move.
    assert head["reserved"] and held(c, "M-1") == held_before
    assert levels(c) == stock_before

    # The merged order is audited as one: the rules see its summed total (≥ 999: Double 11).
    saved = ok(c.post("/api/v1/orders/M-1/save"))
    courier = next(d for d in saved["decisions"] if d["check"] == "courier")
    assert courier["rule_key"] == "double11-sf", courier["reason"]


def test_refused_merges_change_nothing(shop: TestClient) -> None:
    c = shop
    ok(c.post("/api/v1/warehouses", json={"code": "WH2", "name": "门店"}))
    one = [(PHONE_CASE, 1, 5900)]
    create(c, "R-1", one)
    create(c, "R-BUYER", one, buyer="另一个买家")
    create(c, "R-ADDR", one, recipient=HUNAN)
    create(c, "R-PHONE", one, recipient={**BEIJING, "phone": "13800000099"})
    create(c, "R-WH", one, warehouse="WH2")
    for no, status in [
        ("R-AUD", "audited"),
        ("R-REL", "released"),
        ("R-SHIP", "shipped"),
        ("R-CAN", "cancelled"),
    ]:
        create(c, no, one, auto_audit=True)
        to_status(c, no, status)
    create(c, "R-X", one)
    create(c, "R-Y", one)
    ok(c.post("/api/v1/orders/merge", json={"order_nos": ["R-X", "R-Y"]}))

    refused: list[tuple[list[str], int, str]] = [
        (["R-1", "R-BUYER"], 409, "another buyer or address"),
        (["R-1", "R-ADDR"], 409, "another buyer or address"),
        (["R-1", "R-PHONE"], 409, "another buyer or address"),
        (["R-1", "R-WH"], 409, "another warehouse"),
        (["R-1", "R-AUD"], 409, "before the audit completes"),
        (["R-AUD", "R-1"], 409, "before the audit completes"),
        (["R-1", "R-REL"], 409, "before the audit completes"),
        (["R-1", "R-SHIP"], 409, "before the audit completes"),
        (["R-1", "R-CAN"], 409, "before the audit completes"),
        (["R-1", "R-Y"], 409, "before the audit completes"),  # merged away already
        (["R-1", "R-X", "R-CAN"], 409, "before the audit completes"),  # one bad spoils all
        (["R-1", "R-1"], 422, "two different orders"),
        (["R-1", "NOPE"], 404, "no order"),
    ]
    for nos, answer, why in refused:
        existing = [n for n in dict.fromkeys(nos) if n != "NOPE"]
        before = state(c, *existing)
        r = c.post("/api/v1/orders/merge", json={"order_nos": nos})
        assert r.status_code == answer, (nos, r.status_code, r.text)
        assert why in str(r.json()["detail"]), (nos, r.text)
        assert state(c, *existing) == before, nos
    too_few: list[dict[str, Any]] = [{"order_nos": ["R-1"]}, {"order_nos": []}, {}]
    for body in too_few:
        assert c.post("/api/v1/orders/merge", json=body).status_code == 422
    # And a merged-away order is split no more than it is merged.
    r = c.post("/api/v1/orders/R-Y/split", json={"lines": [{"line_id": "1", "qty": 1}]})
    assert r.status_code == 409


def test_merge_refuses_an_order_named_twice(shop: TestClient) -> None:
    c = shop
    create(c, "R-1", [(PHONE_CASE, 1, 5900)])
    create(c, "R-2", [(PHONE_CASE, 1, 5900)])
    before = state(c, "R-1", "R-2")
    r = c.post("/api/v1/orders/merge", json={"order_nos": ["R-1", "R-1", "R-2"]})
    assert r.status_code == 422, r.text
    assert "R-1" in str(r.json()["detail"]) and "more than once" in str(r.json()["detail"])
    assert state(c, "R-1", "R-2") == before


def test_merge_carries_remarks_and_notes_and_holds_a_new_remark(shop: TestClient) -> None:
    """Nothing the buyer or the seller wrote disappears with a merged-away order; a buyer
    remark new to the head is held for a person, as at arrival."""
    c = shop
    one = [(PHONE_CASE, 1, 5900)]
    create(c, "K-1", one, seller_note="老客户")
    create(c, "K-2", one, buyer_remark="请发顺丰", seller_note="送贴膜")
    create(c, "K-3", one)
    head = ok(c.post("/api/v1/orders/merge", json={"order_nos": ["K-1", "K-2", "K-3"]}))
    assert head["buyer_remark"] == "K-2: 请发顺丰"
    assert head["seller_note"] == "K-1: 老客户\nK-2: 送贴膜"
    assert head["on_hold"] and head["hold_reason"] == "buyer remark needs a human: K-2: 请发顺丰"
    (remark,) = [d for d in head["decisions"] if d["check"] == "remark"]
    assert (remark["outcome"], remark["actor"]) == ("hold", ADMIN)
    assert remark["reason"] == head["hold_reason"]
    assert [(h["action"], h["to_status"]) for h in head["history"][-2:]] == [
        ("merge", "new"),
        ("hold", "new"),
    ]
    # A manual save does not hold for a remark; the merge's hold stops the order until a
    # person has read it and lifts the hold.
    ok(c.post("/api/v1/orders/K-1/save"))
    assert c.post("/api/v1/orders/K-1/confirm", json={}).status_code == 409
    ok(c.post("/api/v1/orders/K-1/unhold", json={"note": "remark read"}))
    assert ok(c.post("/api/v1/orders/K-1/confirm", json={}))["status"] == "confirmed"


def test_merge_of_a_remark_the_head_has_already_is_not_held_again(shop: TestClient) -> None:
    """The same buyer often writes the same remark on both orders: it is carried, not new."""
    c = shop
    one = [(PHONE_CASE, 1, 5900)]
    create(c, "K-4", one, buyer_remark="周末不在家")
    create(c, "K-5", one, buyer_remark=" 周末不在家 ")
    create(c, "K-6", one)
    head = ok(c.post("/api/v1/orders/merge", json={"order_nos": ["K-4", "K-5"]}))
    assert head["buyer_remark"] == "K-4: 周末不在家\nK-5: 周末不在家"
    assert not head["on_hold"]
    assert [d for d in head["decisions"] if d["check"] == "remark"] == []
    # Remarks only on the head: nothing is carried, the head's remark stays as it was.
    create(c, "K-7", one, buyer_remark="要发票")
    head = ok(c.post("/api/v1/orders/merge", json={"order_nos": ["K-7", "K-6"]}))
    assert (head["buyer_remark"], head["seller_note"], head["on_hold"]) == ("要发票", None, False)


def test_merge_carries_a_merged_away_orders_hold(shop: TestClient) -> None:
    """A merged-away order's hold stops its goods, which now ship with the head."""
    c = shop
    one = [(PHONE_CASE, 1, 5900)]
    create(c, "K-8", one)
    create(c, "K-9", one)
    ok(c.post("/api/v1/orders/K-9/hold", json={"reason": "等买家确认颜色"}))
    head = ok(c.post("/api/v1/orders/merge", json={"order_nos": ["K-8", "K-9"]}))
    assert (head["on_hold"], head["hold_reason"]) == (True, "K-9: 等买家确认颜色")
    last = head["history"][-1]
    assert (last["action"], last["reason"], last["actor"]) == ("hold", "K-9: 等买家确认颜色", ADMIN)
