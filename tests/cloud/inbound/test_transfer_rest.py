"""A transfer's further node shipments and its pick moved (cloud/inbound/transfer_pick.py):
the rest of a short pick shipped as shipment 2 when a lead asks, each shipment booked once
and shown on the transfer's page; the pick moved to another pick node of the sending
warehouse, the old node's late shipment refused. Refusals change nothing."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from protocol.messages import ShippedLine, TransferShippedPayload
from tests.cloud.inbound.test_transfer_ship import Node, _outbound, _picker, _tasks
from tests.cloud.inbound.transfer_helpers import TR, new_transfer, sku_with_stock, state, stock
from tests.cloud.web.conftest import web_login


def _shipment(
    node: Node, number: str, sku: str, qty: int, shipment: int, *, short: bool = False
) -> TransferShippedPayload:
    return TransferShippedPayload(
        shipment_id=f"{node.id}:{number}:s{shipment}",
        transfer_number=number,
        shipment=shipment,
        warehouse="WH1",
        station=node.id,
        lines=[ShippedLine(line_no=1, sku_code=sku, qty=qty, bin="A-01", short=short)],
    )


def _refused(
    demo: TestClient, method: str, url: str, says: str, number: str, sku: str, **kw: object
) -> None:
    before = state(demo, number, sku)
    r = demo.request(method, url, **kw)  # type: ignore[arg-type]
    assert r.status_code == 409 and says in r.text, r.text
    assert state(demo, number, sku) == before


def test_the_rest_of_a_short_pick_ships_as_a_second_node_shipment(demo: TestClient) -> None:
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 8, bin_code="A-01")
    number = new_transfer(demo, sku, 5)
    picker = _picker(demo, number)
    # Asked before anything shipped: an audited transfer ships whole, there is no rest.
    _refused(demo, "POST", f"{TR}/{number}/ship-rest", "only a transfer shipped short", number, sku)
    picker.send(picker.shipped(_shipment(picker, number, sku, 3, 1, short=True)))
    assert stock(demo, sku, "WH1")["on_hand"] == 5
    assert _tasks(demo, "pick_exception", f"transfer {number} shipped short")
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    # A rest reported before the lead asked for it books nothing (a task says why).
    early = _shipment(picker, number, sku, 2, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(early))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", early.shipment_id)

    r = demo.post(f"{TR}/{number}/ship-rest")
    assert r.status_code == 200, r.text
    assert r.json()["rest_asked_by"] and r.json()["status"] == "shipped"
    rest = _outbound(demo, picker.id, number)[-1]
    assert (rest["status"], rest["shipment"]) == ("open", 2)
    assert rest["lines"] == [{"line_no": 1, "sku_code": sku, "qty": 2}]
    _refused(demo, "POST", f"{TR}/{number}/ship-rest", "was asked for already", number, sku)
    # More than the rest is refused with a task, nothing booked.
    too_many = _shipment(picker, number, sku, 3, 2)
    too_many = too_many.model_copy(update={"shipment_id": f"{picker.id}:{number}:big"})
    before = state(demo, number, sku)
    picker.send(picker.shipped(too_many))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", too_many.shipment_id)

    second = _shipment(picker, number, sku, 2, 2)
    picker.send(picker.shipped(second))
    picker.send(picker.shipped(second))  # sent again: booked once
    t = demo.get(f"{TR}/{number}").json()
    assert t["status"] == "shipped" and t["rest_asked_by"] is None
    assert (t["lines"][0]["shipped"], t["lines"][0]["in_transit"]) == (5, 5)
    assert stock(demo, sku, "WH1")["on_hand"] == 3
    assert stock(demo, sku, "WH2")["inbound"] == 5
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    _refused(demo, "POST", f"{TR}/{number}/ship-rest", "was shipped whole", number, sku)

    # The transfer's page shows both node shipments, the short one, in Chinese and English.
    web = TestClient(demo.app, base_url="http://testserver")
    web_login(web, "demo", "admin")
    zh = web.get(f"/web/stock/transfers/{number}", headers={"Accept-Language": "zh-CN"}).text
    assert "节点出库记录" in zh and "短拣行" in zh and "第 1 行" in zh
    assert zh.count(picker.id) >= 2 and f"{sku} × 3" in zh and f"{sku} × 2" in zh
    en = web.get(f"/web/stock/transfers/{number}?lang=en", headers={"Accept-Language": "en"}).text
    assert "Node shipments" in en and "Short picks" in en and "line 1" in en

    # 冲销出库 takes back the newest shipment only, then the first.
    r = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "第二车装错"})
    assert r.status_code == 201 and r.json()["shipment"] == 2, r.text
    t = demo.get(f"{TR}/{number}").json()
    assert (t["status"], t["lines"][0]["shipped"]) == ("shipped", 3)
    assert stock(demo, sku, "WH1")["on_hand"] == 5
    zh = web.get(f"/web/stock/transfers/{number}", headers={"Accept-Language": "zh-CN"}).text
    assert zh.count("已冲销（冲销出库）") == 1
    r = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "整单取消"})
    assert r.status_code == 201 and r.json()["shipment"] == 1, r.text
    t = demo.get(f"{TR}/{number}").json()
    assert (t["status"], t["lines"][0]["shipped"]) == ("audited", 0)
    assert stock(demo, sku, "WH1")["on_hand"] == 8


def test_a_rest_received_in_part_is_taken_back_only_while_in_transit(demo: TestClient) -> None:
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 8, bin_code="A-01")
    number = new_transfer(demo, sku, 4)
    picker = _picker(demo, number)
    picker.send(picker.shipped(_shipment(picker, number, sku, 1, 1, short=True)))
    rid = f"R-{uuid.uuid4().hex[:6]}"
    r = demo.post(
        f"{TR}/{number}/receipts",
        json={"receipt_id": rid, "warehouse": "WH2", "lines": [{"sku_code": sku, "qty": 1}]},
    )
    assert r.status_code == 201, r.text
    assert demo.get(f"{TR}/{number}").json()["status"] == "done"
    # A received transfer with a rest left: the lead asks for the rest.
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    picker.send(picker.shipped(_shipment(picker, number, sku, 3, 2)))
    t = demo.get(f"{TR}/{number}").json()
    assert (t["status"], t["lines"][0]["shipped"]) == ("partially_received", 4)
    # Shipment 2 is all in transit: it can be taken back; shipment 1 arrived: it cannot
    # (the transfer is done again: what was shipped was received).
    r = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "错发"})
    assert r.status_code == 201 and r.json()["shipment"] == 2, r.text
    _refused(
        demo,
        "POST",
        f"{TR}/{number}/cancel-shipment",
        "is done; only a shipped transfer",
        number,
        sku,
        json={"reason": "再冲"},
    )


def test_a_transfers_pick_moves_to_another_pick_node(demo: TestClient) -> None:
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 8, bin_code="A-01")
    number = new_transfer(demo, sku, 2)
    old = _picker(demo, number)
    new = Node(demo, "WH1")
    other_wh = Node(demo, "WH2")
    receiver = Node(demo, "WH1", kind="inbound")
    url = f"{TR}/{number}/pick-node"
    _refused(
        demo, "PUT", url, "does not serve warehouse WH1", number, sku, json={"node": other_wh.id}
    )
    _refused(demo, "PUT", url, "not a pick station", number, sku, json={"node": receiver.id})
    _refused(demo, "PUT", url, "already picked by", number, sku, json={"node": old.id})
    r = demo.put(url, json={"node": "../x"})
    assert r.status_code == 422, r.text

    r = demo.put(url, json={"node": new.id})
    assert r.status_code == 200 and r.json()["pick_node"] == new.id, r.text
    for n in (old, new):
        last = _outbound(demo, n.id, number)[-1]
        assert (last["status"], last["pick_node"], last["shipment"]) == ("open", new.id, 1)
    # The old node picked before it heard: its shipment is refused, nothing booked.
    late = _shipment(old, number, sku, 2, 1)
    before = state(demo, number, sku)
    old.send(old.shipped(late))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", f"is picked by node {new.id}, not by {old.id}")
    new.send(new.shipped(_shipment(new, number, sku, 2, 1)))
    t = demo.get(f"{TR}/{number}").json()
    assert (t["status"], t["lines"][0]["shipped"]) == ("shipped", 2)
    assert stock(demo, sku, "WH1")["on_hand"] == 6
    # A shipped transfer's pick does not move.
    _refused(demo, "PUT", url, "its pick moves only while", number, sku, json={"node": old.id})
