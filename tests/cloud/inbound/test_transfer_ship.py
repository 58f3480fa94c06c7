"""A transfer shipped from the sender's node: the audited transfer is released to the sending
warehouse's pick node (``transfer.outbound``), whose ``transfer.shipped`` fact the hub books
once; bad shipments are refused with a task and book nothing; the rest of a short pick
shipped as a further shipment, the pick moved to another node; a rest nobody picks opens a
task after the configured wait, with its steps (move the pick, ship the rest from the hub,
cancel the rest); a hub shipment of the rest booked once, a late node shipment refused with
a task; hostile input refused with nothing changed (docs/inbound.md "Transfers")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Downlink, Task
from cloud.db.transfers import Transfer, TransferShipment
from cloud.inbound import transfer_watch
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    Event,
    NodeStarted,
    NodeStartedPayload,
    ShippedLine,
    TransferShipped,
    TransferShippedPayload,
)
from tests.cloud.inbound.conftest import station
from tests.cloud.inbound.transfer_helpers import (
    TR,
    new_transfer,
    sku_with_stock,
    state,
    stock,
    wh2,
)
from tests.cloud.web.conftest import web_login


class Node:
    """A node of this test, its events numbered as its own stream."""

    def __init__(self, demo: TestClient, warehouse: str, kind: str = "pick") -> None:
        self.demo = demo
        self.id = station(demo, warehouse)
        self.seq = 0
        nodes(demo)[self.id] = self
        self.send(
            NodeStarted(
                node=self.id,
                epoch=1,
                seq=1,
                id=uuid.uuid4(),
                hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
                payload=NodeStartedPayload(software="guanjia test", station_kind=kind),  # type: ignore[arg-type]
            )
        )

    def send(self, *events: Event) -> None:
        sessions = session_factory(self.demo.app.state.engine)  # type: ignore[attr-defined]
        with transaction(sessions) as s:
            apply_batch(s, Batch(node=self.id, events=list(events)), datetime.now(UTC))
        self.seq = max(self.seq, *(e.seq for e in events))

    def shipped(self, p: TransferShippedPayload, seq: int | None = None) -> TransferShipped:
        return TransferShipped(
            node=self.id,
            epoch=1,
            seq=seq if seq is not None else self.seq + 1,
            id=uuid.uuid4(),
            hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 1),
            payload=p,
        )


def nodes(demo: TestClient) -> dict[str, Node]:
    """The nodes the tests made on this hub (the module's hub is shared: a pick lease may
    go to another test's pick node of WH1)."""
    state = demo.app.state  # type: ignore[attr-defined]
    if not hasattr(state, "ship_test_nodes"):
        state.ship_test_nodes = {}
    found: dict[str, Node] = state.ship_test_nodes
    return found


def _db(demo: TestClient) -> Any:
    return transaction(session_factory(demo.app.state.engine))  # type: ignore[attr-defined]


def _lease(demo: TestClient, number: str) -> str | None:
    with _db(demo) as s:
        return s.execute(select(Transfer.pick_node).where(Transfer.number == number)).scalar_one()


def _outbound(demo: TestClient, node: str, number: str) -> list[dict[str, Any]]:
    with _db(demo) as s:
        rows = s.execute(
            select(Downlink.payload)
            .where(Downlink.node_id == node, Downlink.type == "transfer.outbound")
            .order_by(Downlink.seq)
        ).scalars()
        return [p for p in rows if p["transfer_number"] == number]


def _tasks(demo: TestClient, kind: str, says: str) -> list[str]:
    with _db(demo) as s:
        rows = s.execute(select(Task.detail).where(Task.kind == kind)).scalars()
        return [d for d in rows if says in d]


def _payload(
    node: str, number: str, sku: str, *lines: tuple[int, str | None], **over: Any
) -> TransferShippedPayload:
    body: dict[str, Any] = {
        "shipment_id": f"{node}-T{uuid.uuid4().hex[:6]}",
        "transfer_number": number,
        "shipment": 1,
        "warehouse": "WH1",
        "station": node,
        "operator": "P07",
        "lines": [
            ShippedLine(line_no=1, sku_code=sku, qty=q, bin=b, short=False) for q, b in lines
        ],
    }
    body.update(over)
    return TransferShippedPayload(**body)


def _picker(demo: TestClient, number: str) -> Node:
    """The node the hub leased the transfer's pick to."""
    lease = _lease(demo, number)
    assert lease is not None
    return nodes(demo)[lease]


def test_an_audited_transfer_is_picked_and_shipped_at_the_senders_node_once(
    demo: TestClient,
) -> None:
    wh2(demo)
    picker = Node(demo, "WH1")
    sku = sku_with_stock(demo, 8, bin_code="A-01")
    number = f"TR-{uuid.uuid4().hex[:8].upper()}"
    r = demo.post(
        TR,
        json={
            "number": number,
            "from_warehouse": "WH1",
            "to_warehouse": "WH2",
            "lines": [{"sku_code": sku, "qty": 5}],
        },
    )
    assert r.status_code == 201, r.text
    assert _outbound(demo, picker.id, number) == []  # a draft is not released
    assert demo.post(f"{TR}/{number}/audit").status_code == 200
    lease = _lease(demo, number)
    assert lease is not None
    (release,) = _outbound(demo, picker.id, number)
    assert release["status"] == "open" and release["shipment"] == 1
    assert release["pick_node"] == lease and release["to_warehouse"] == "WH2"
    assert release["lines"] == [{"line_no": 1, "sku_code": sku, "qty": 5}]
    # A node assigned to WH1 afterwards gets the audited transfers leaving it.
    late = station(demo, "WH1")
    assert [r["status"] for r in _outbound(demo, late, number)] == ["open"]

    p = _payload(lease, number, sku, (3, "A-01"), (2, "A-01"), station=lease)
    holder = _picker(demo, number)
    first = holder.shipped(p)
    holder.send(first)
    holder.send(first)  # delivered twice
    holder.send(holder.shipped(p))  # and sent again under a new seq
    t = demo.get(f"{TR}/{number}").json()
    assert t["status"] == "shipped" and t["shipped_by"] == f"node:{lease}"
    assert t["pick_node"] == lease
    assert (t["lines"][0]["shipped"], t["lines"][0]["in_transit"]) == (5, 5)
    assert stock(demo, sku, "WH1")["on_hand"] == 3
    assert stock(demo, sku, "WH2")["inbound"] == 5
    with _db(demo) as s:
        rows = s.execute(
            select(TransferShipment.shipment, TransferShipment.node_id)
            .join(Transfer, Transfer.id == TransferShipment.transfer_id)
            .where(Transfer.number == number)
        ).all()
        assert [tuple(r) for r in rows] == [(1, lease)]
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"

    # 冲销出库 takes the node's shipment back like a hub shipment, and the node may ship anew.
    r = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "装错车"})
    assert r.status_code == 201, r.text
    assert stock(demo, sku, "WH1")["on_hand"] == 8
    again = _outbound(demo, picker.id, number)[-1]
    assert (again["status"], again["shipment"]) == ("open", 2)
    # The old shipment sent once more after the reversal books nothing.
    holder.send(holder.shipped(p))
    assert demo.get(f"{TR}/{number}").json()["status"] == "audited"
    assert stock(demo, sku, "WH1")["on_hand"] == 8


def test_a_short_pick_ships_what_was_picked_and_tells_a_lead(demo: TestClient) -> None:
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 3, bin_code="A-01")
    number = new_transfer(demo, sku, 5)
    picker = _picker(demo, number)
    p = TransferShippedPayload(
        shipment_id=f"{picker.id}-T-short",
        transfer_number=number,
        shipment=1,
        warehouse="WH1",
        station=picker.id,
        lines=[ShippedLine(line_no=1, sku_code=sku, qty=3, bin="A-01", short=True)],
    )
    picker.send(picker.shipped(p))
    t = demo.get(f"{TR}/{number}").json()
    assert t["status"] == "shipped"
    assert (t["lines"][0]["qty"], t["lines"][0]["shipped"]) == (5, 3)
    assert stock(demo, sku, "WH1")["on_hand"] == 0
    assert _tasks(demo, "pick_exception", f"transfer {number} shipped short")


def test_bad_shipments_are_refused_with_a_task_and_book_nothing(demo: TestClient) -> None:
    wh2(demo)
    Node(demo, "WH1")
    elsewhere = Node(demo, "WH2")
    sku = sku_with_stock(demo, 20, bin_code="A-01")
    number = new_transfer(demo, sku, 4)
    picker = _picker(demo, number)

    def refused(node: Node, p: TransferShippedPayload, says: str, num: str = number) -> None:
        before = state(demo, num, sku)
        node.send(node.shipped(p))
        assert state(demo, num, sku) == before
        found = _tasks(demo, "shipment_conflict", p.shipment_id)
        assert found and says in found[-1], (found, says)

    ok = (4, "A-01")
    # A node of another warehouse, and a pick reported for another warehouse.
    refused(
        elsewhere,
        _payload(elsewhere.id, number, sku, ok, warehouse="WH2"),
        "leaves from warehouse WH1",
    )
    refused(picker, _payload(picker.id, number, sku, ok, warehouse="WH2"), "reported warehouse WH2")
    # A SKU not on the line; more than the line; a shipment number not waited for.
    other = sku_with_stock(demo, 1)
    refused(picker, _payload(picker.id, number, other, ok), "is not line 1")
    refused(picker, _payload(picker.id, number, sku, (5, "A-01")), "the pick reports 5")
    refused(picker, _payload(picker.id, number, sku, ok, shipment=2), "waits for shipment 1")
    # Shipped already from the hub; cancelled before the fact arrived.
    good = _payload(picker.id, number, sku, ok)
    assert demo.post(f"{TR}/{number}/ship").status_code == 200
    refused(picker, good, "is shipped; only an audited transfer, or one whose rest")
    gone = new_transfer(demo, sku, 2)
    gone_picker = _picker(demo, gone)
    r = demo.post(f"{TR}/{gone}/cancel", json={"reason": "不调了"})
    assert r.status_code == 200, r.text
    assert _outbound(demo, gone_picker.id, gone)[-1]["status"] == "withdrawn"
    refused(
        gone_picker,
        _payload(gone_picker.id, gone, sku, (2, "A-01")),
        "is cancelled",
        num=gone,
    )
    # A shipment id booked once, sent again with other lines.
    third = new_transfer(demo, sku, 2)
    third_picker = _picker(demo, third)
    p = _payload(third_picker.id, third, sku, (2, "A-01"))
    third_picker.send(third_picker.shipped(p))
    assert demo.get(f"{TR}/{third}").json()["status"] == "shipped"
    changed = p.model_copy(
        update={"lines": [ShippedLine(line_no=1, sku_code=sku, qty=1, bin="A-01")]}
    )
    refused(third_picker, changed, "already booked with other lines", num=third)
    # A transfer the hub does not know.
    before = stock(demo, sku, "WH1")
    ghost = _payload(picker.id, "TR-NO-SUCH", sku, ok)
    picker.send(picker.shipped(ghost))
    assert stock(demo, sku, "WH1") == before
    assert _tasks(demo, "shipment_conflict", "no transfer 'TR-NO-SUCH'")


# --- further node shipments and a moved pick (cloud/inbound/transfer_pick.py): the rest of
# a short pick shipped as shipment 2 when a lead asks, each booked once and shown on the
# transfer's page; the pick moved to another pick node, the old node's late shipment
# refused. Refusals change nothing. (In this module: its hub is seeded once.)


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


def test_goods_the_book_lacks_are_booked_with_override_and_a_variance_task(
    demo: TestClient,
) -> None:
    """The goods physically left (cloud/stock/ledger.py ``post_as_happened``): a bin the book
    thinks too small is booked with a logged override, and a lead gets a stock_variance task
    (cloud/tasks.py ``open_override_task``), as for a node's order picks (cloud/facts/)."""
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 2, bin_code="A-01")
    number = new_transfer(demo, sku, 5)
    picker = _picker(demo, number)
    assert _tasks(demo, "stock_variance", f"shipment of transfer {number}") == []
    picker.send(picker.shipped(_shipment(picker, number, sku, 5, 1)))
    t = demo.get(f"{TR}/{number}").json()
    assert (t["status"], t["lines"][0]["shipped"]) == ("shipped", 5)
    (task,) = _tasks(demo, "stock_variance", f"shipment of transfer {number}")
    assert "booked with override" in task and sku in task, task
    moved = demo.get("/api/v1/stock/movements", params={"document": f"tr:{number}"}).json()
    assert [(m["qty_delta"], m["override"]) for m in moved] == [(-5, True)]


# --- the rest nobody picks, and the rest shipped by the hub (docs/inbound.md "A rest
# nobody picks", "The hub ships the rest") -------------------------------------------------

WAIT = timedelta(hours=8)


def _short(demo: TestClient, qty: int = 5, picked: int = 2) -> tuple[str, str, Node]:
    """A transfer of ``qty`` its pick node shipped ``picked`` of (short)."""
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 8, bin_code="A-01")
    number = new_transfer(demo, sku, qty)
    picker = _picker(demo, number)
    picker.send(picker.shipped(_shipment(picker, number, sku, picked, 1, short=True)))
    return number, sku, picker


def _tick(demo: TestClient, now: datetime) -> int:
    sessions = session_factory(demo.app.state.engine)  # type: ignore[attr-defined]
    return transfer_watch.tick(sessions, now, WAIT)


def _overdue(demo: TestClient, number: str) -> list[str]:
    with _db(demo) as s:
        rows = s.execute(select(Task.detail).where(Task.kind == "transfer_rest_overdue"))
        return [d for d in rows.scalars() if f"transfer {number}:" in d]


def _age_ask(demo: TestClient, number: str, by: timedelta) -> None:
    with _db(demo) as s:
        t = s.execute(select(Transfer).where(Transfer.number == number)).scalar_one()
        assert t.rest_asked_at is not None
        t.rest_asked_at = t.rest_asked_at - by


def test_a_rest_nobody_picks_opens_one_task_after_the_wait(demo: TestClient) -> None:
    number, sku, picker = _short(demo)
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    now = datetime.now(UTC)
    _tick(demo, now)
    assert _overdue(demo, number) == []  # asked just now: not late
    _age_ask(demo, number, WAIT + timedelta(minutes=1))
    _tick(demo, now)
    _tick(demo, now)  # a second worker, or the next tick: still one task
    (said,) = _overdue(demo, number)
    assert picker.id in said and "move the pick" in said and "cancel the rest" in said
    assert demo.get(f"{TR}/{number}").json()["rest_overdue_at"] is not None

    # Its step: cancel the rest. The node stops offering it; the short line stays short.
    before = state(demo, number, sku)
    r = demo.post(f"{TR}/{number}/cancel-rest", json={"reason": "货找不到"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["rest_asked_by"] is None and t["rest_overdue_at"] is None
    assert t["lines"][0]["shipped"] == 2 and t["status"] == "shipped"
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    assert state(demo, number, sku)["movements"] == before["movements"]
    # Cancelled twice: nothing asked, nothing changed.
    _refused(
        demo,
        "POST",
        f"{TR}/{number}/cancel-rest",
        "no rest of transfer",
        number,
        sku,
        json={"reason": "再取消"},
    )
    # The node's shipment of the cancelled rest, arriving late: refused with a task.
    late = _shipment(picker, number, sku, 3, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(late))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", late.shipment_id)
    # Asked again: a new wait, a new task only after it.
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    _tick(demo, now)
    assert len(_overdue(demo, number)) == 1


def test_moving_the_pick_restarts_the_wait(demo: TestClient) -> None:
    number, _sku, picker = _short(demo)
    other = Node(demo, "WH1")
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    _age_ask(demo, number, WAIT * 2)
    r = demo.put(f"{TR}/{number}/pick-node", json={"node": other.id})
    assert r.status_code == 200, r.text
    _tick(demo, datetime.now(UTC))
    assert _overdue(demo, number) == []
    assert _outbound(demo, other.id, number)[-1]["pick_node"] == other.id
    assert picker.id != other.id


def test_the_hub_ships_the_rest_once_and_a_late_node_shipment_is_refused(
    demo: TestClient,
) -> None:
    number, sku, picker = _short(demo, qty=5, picked=2)
    assert stock(demo, sku, "WH1")["on_hand"] == 6
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    r = demo.post(f"{TR}/{number}/ship-rest", json={"by": "hub"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert (t["status"], t["lines"][0]["shipped"], t["rest_asked_by"]) == ("shipped", 5, None)
    assert stock(demo, sku, "WH1")["on_hand"] == 3
    assert stock(demo, sku, "WH2")["inbound"] == 5
    # The node is told: shipped, it offers it no more ("put it back" mid-pick).
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    # The node's shipment of the rest arrives after the hub shipped it: refused, a task.
    late = _shipment(picker, number, sku, 3, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(late))
    picker.send(picker.shipped(late, seq=picker.seq + 1))  # replayed under a new seq
    assert state(demo, number, sku) == before
    assert len(_tasks(demo, "shipment_conflict", late.shipment_id)) == 2
    # Nothing left: the hub ships no second rest, the node is asked for none.
    for body in ({"by": "hub"}, None):
        _refused(
            demo, "POST", f"{TR}/{number}/ship-rest", "was shipped whole", number, sku, json=body
        )
    # 冲销出库 takes the hub's rest back as the newest shipment.
    r = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "补发错了"})
    assert r.status_code == 201 and r.json()["shipment"] == 2, r.text
    assert demo.get(f"{TR}/{number}").json()["lines"][0]["shipped"] == 2
    assert stock(demo, sku, "WH1")["on_hand"] == 6


def test_the_hub_ships_the_rest_without_asking_the_node(demo: TestClient) -> None:
    number, sku, picker = _short(demo, qty=4, picked=1)
    # The node is dead: the lead ships the rest from the hub without asking it first.
    r = demo.post(f"{TR}/{number}/ship-rest", json={"by": "hub"})
    assert r.status_code == 200 and r.json()["lines"][0]["shipped"] == 4, r.text
    assert stock(demo, sku, "WH1")["on_hand"] == 4
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    # The node comes back and picks from the old release it kept: refused, a task.
    late = _shipment(picker, number, sku, 3, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(late))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", late.shipment_id)


def test_hostile_rest_requests_are_refused_and_change_nothing(demo: TestClient) -> None:
    number, sku, _picker_node = _short(demo, qty=5, picked=1)
    url = f"{TR}/{number}"
    json_type = {"Content-Type": "application/json"}
    for raw in (
        b'{"by": "truck"}',
        b'{"by": "hub", "extra": 1}',
        b'{"by": "hub\\u0000"}',
        b'{"by": "\\ud800"}',
        b'{"by": NaN}',
        b'["hub"]',
        b'{"by": "' + b"h" * 100_000 + b'"}',
    ):
        before = state(demo, number, sku)
        r = demo.post(f"{url}/ship-rest", content=raw, headers=json_type)
        assert r.status_code in (413, 422), (raw[:40], r.text)
        assert state(demo, number, sku) == before
    for body in ({"reason": ""}, {"reason": "x" * 100_000}, {"reason": "a\u0000b"}, {}):
        before = state(demo, number, sku)
        r = demo.post(f"{url}/cancel-rest", json=body)
        assert r.status_code in (413, 422), (body, r.text)
        assert state(demo, number, sku) == before
    # The rest beyond the sender's book: 409, nothing of it posted.
    with _db(demo) as s:
        t = s.execute(select(Transfer).where(Transfer.number == number)).scalar_one()
        assert t.shipments == 1
    r = demo.post(
        "/api/v1/stock/adjustments",
        json={"warehouse": "WH1", "sku_code": sku, "delta": -7, "reason": "盘亏", "bin": "A-01"},
    )
    assert r.status_code in (200, 201), r.text
    _refused(demo, "POST", f"{url}/ship-rest", "", number, sku, json={"by": "hub"})
    # Unknown transfer: 404.
    assert demo.post(f"{TR}/NOPE-0/ship-rest", json={"by": "hub"}).status_code == 404
    assert demo.post(f"{TR}/NOPE-0/cancel-rest", json={"reason": "x"}).status_code == 404
