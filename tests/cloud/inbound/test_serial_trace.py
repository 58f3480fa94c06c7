"""Barcode tracking (全程条码跟踪): a serial's whole history from the facts of the receiving,
pack and returns stations and the order's own log, on the API in time order; a serial seen
twice is flagged with a task, and a fact sent twice adds nothing (cloud/stock/serials.py).
The serials of a transfer's picked units: checked by the hub (one per unit, once), kept as
"shipped on transfer T from WH1" for booked shipments only, sent to the receiver with
``transfer.release`` less what arrived, and flagged when one leaves twice without arriving."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Downlink
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    Event,
    OrderLabelled,
    OrderLabelledPayload,
    OrderPacked,
    OrderPackedPayload,
    OrderPicked,
    OrderPickedPayload,
    PackedItem,
    PickedLine,
    PoReceived,
    PoReceivedPayload,
    ReceivedLine,
    ReturnedLine,
    ReturnReceived,
    ReturnReceivedPayload,
    ShippedLine,
    TransferReceived,
    TransferReceivedPayload,
    TransferShippedPayload,
)
from tests.cloud.inbound.conftest import station
from tests.cloud.inbound.test_transfer_ship import Node, _db, _picker
from tests.cloud.inbound.test_transfer_ship import _tasks as _ship_tasks
from tests.cloud.inbound.transfer_helpers import TR, new_transfer, sku_with_stock, state, wh2

ORDER = "JY1300002"  # audited in the demo (cloud/seed.py): released below
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def _base(node: str, seq: int, minutes: int) -> dict[str, Any]:
    ms = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return {"node": node, "epoch": 1, "seq": seq, "id": uuid.uuid4(), "hlc": pack(ms, 0)}


def _ingest(demo: TestClient, *events: Event) -> None:
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        apply_batch(s, Batch(node=events[0].node, events=events), datetime.now(UTC))


def _receipt(node: str, seq: int, po: str, rid: str, sku: str, serials: list[str]) -> PoReceived:
    return PoReceived(
        **_base(node, seq, seq),
        payload=PoReceivedPayload(
            receipt_id=rid,
            po_number=po,
            warehouse="WH1",
            station=node,
            lines=[
                ReceivedLine(
                    sku_code=sku, qty=len(serials), verdict="pass", bin="A-02", serials=serials
                )
            ],
        ),
    )


def _packed(node: str, seq: int, order: str, sku: str, serial: str) -> OrderPacked:
    item = PackedItem(line_id="1", sku_code=sku, qty=1, serials=[serial])
    return OrderPacked(
        **_base(node, seq, seq),
        payload=OrderPackedPayload(order_id=order, version=1, station=node, items=[item]),
    )


def _tasks(demo: TestClient, node: str = "") -> list[str]:
    """The ``serial_conflict`` tasks naming ``node`` (the demo account is shared by the tests
    a worker runs, in any order: another test's tasks are not this one's)."""
    return [
        t["detail"]
        for t in demo.get("/api/v1/tasks").json()
        if t["kind"] == "serial_conflict" and node in t["detail"]
    ]


def test_a_units_trace_from_label_to_return_and_a_serial_seen_twice(demo: TestClient) -> None:
    node = station(demo)
    order = demo.get(f"/api/v1/orders/{ORDER}").json()
    sku = order["lines"][0]["sku_code"]
    po = f"PO-SN-{node[-8:]}"
    r = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": po,
            "warehouse": "WH1",
            "lines": [{"sku_code": sku, "qty": 10, "unit_price": "12.00"}],
            "confirm": True,
        },
    )
    assert r.status_code == 201, r.text
    issued, scanned, other = f"{node}-S0000001", f"SN-{node}", f"SN2-{node}"
    first = _receipt(node, 1, po, f"RC-{node}-1", sku, [issued, scanned, other])
    _ingest(demo, first)
    r = demo.post(f"/api/v1/orders/{ORDER}/release", json={"pick_node": node})
    assert r.status_code == 200, r.text
    picked = OrderPicked(
        **_base(node, 2, 10),
        payload=OrderPickedPayload(
            order_id=ORDER,
            version=1,
            station=node,
            lines=[PickedLine(line_id="1", sku_code=sku, qty=2, bin="A-02")],
        ),
    )
    labelled = OrderLabelled(
        **_base(node, 4, 14),
        payload=OrderLabelledPayload(
            order_id=ORDER,
            version=1,
            station=node,
            carrier=order["carrier"] or "SF",
            tracking_number="SF100200300",
            printer="zebra-1",
        ),
    )
    _ingest(demo, picked, _packed(node, 3, ORDER, sku, scanned), labelled)
    assert demo.post(f"/api/v1/orders/{ORDER}/ship").status_code == 200
    back = ReturnReceived(
        **_base(node, 5, 60 * 24),
        payload=ReturnReceivedPayload(
            receipt_id=f"RT-{node}",
            request="AS-NONE",  # no such request: a return_conflict task, the unit still seen
            warehouse="WH1",
            station=node,
            lines=[
                ReturnedLine(line_no=1, sku_code=sku, damaged=1, reason="屏幕碎", serials=[scanned])
            ],
        ),
    )
    _ingest(demo, back)

    got = demo.get(f"/api/v1/serials/{scanned}").json()
    assert got["sku_code"] == sku and got["conflicts"] == 0
    kinds = [s["kind"] for s in got["steps"]]
    assert kinds == ["received", "put_away", "picked", "packed", "labelled", "shipped", "returned"]
    steps = {s["kind"]: s for s in got["steps"]}
    assert steps["received"]["doc"] == po and steps["received"]["detail"] == "QC pass"
    assert steps["put_away"]["bin"] == "A-02" and steps["packed"]["doc"] == ORDER
    assert steps["picked"]["node_id"] == node and steps["shipped"]["node_id"] is None
    assert steps["returned"]["detail"] == "damaged 1 (屏幕碎)"
    # The node's time, not the hub's: the receipt was two days ago on the node's clock.
    assert steps["received"]["at"].startswith(str(T0.date()))
    # A serial the station issued begins with its label print.
    assert [s["kind"] for s in demo.get(f"/api/v1/serials/{issued}").json()["steps"]] == [
        "issued",
        "received",
        "put_away",
    ]
    missing = demo.get("/api/v1/serials/NEVER-SEEN-1")
    assert missing.status_code == 404 and "NEVER-SEEN-1 was never seen" in missing.text

    # The same receipt again (a station resending it): nothing more is seen or flagged.
    _ingest(demo, _receipt(node, 6, po, f"RC-{node}-1", sku, [issued, scanned, other]))
    assert len(demo.get(f"/api/v1/serials/{issued}").json()["steps"]) == 3
    assert _tasks(demo, node) == []
    # Received again under another receipt while in stock: two units carry one serial.
    # Kept, both receipts flagged, a task.
    _ingest(demo, _receipt(node, 7, po, f"RC-{node}-2", sku, [other]))
    twice = demo.get(f"/api/v1/serials/{other}").json()
    assert twice["conflicts"] == 2
    flagged = [s for s in twice["steps"] if s["conflict"]]
    assert [f["receipt"] for f in flagged] == [f"RC-{node}-1", f"RC-{node}-2"]
    assert f"in stock already from receipt RC-{node}-1" in flagged[1]["conflict"]
    assert f"received again in receipt RC-{node}-2" in flagged[0]["conflict"]
    # Packed into one order and then into a second before it came back: flagged too; the
    # returned unit packed again is not.
    _ingest(demo, _packed(node, 8, "JY-X1", sku, other), _packed(node, 9, "JY-X2", sku, other))
    _ingest(demo, _packed(node, 10, "JY-X3", sku, scanned))
    steps = demo.get(f"/api/v1/serials/{scanned}").json()["steps"]
    _ingest(demo, _packed(node, 11, "JY-X3", sku, scanned))  # the same pack, resent
    assert demo.get(f"/api/v1/serials/{scanned}").json()["steps"] == steps
    # Both packs red: the first says it was packed again, the second that it was packed.
    assert demo.get(f"/api/v1/serials/{other}").json()["conflicts"] == 4
    assert demo.get(f"/api/v1/serials/{scanned}").json()["conflicts"] == 0
    details = _tasks(demo, node)
    assert len(details) == 2 and any("already packed in order JY-X1" in d for d in details)


def test_a_transferred_units_trace_shows_its_shipment_from_the_sender(demo: TestClient) -> None:
    """A unit received at WH1, shipped on a transfer (at the hub, where nothing scans its
    serial) and received at WH2's node: the trace shows the shipment from WH1's bin, from the
    transfer document, between the two receipts; read twice, the same."""
    sku = sku_with_stock(demo, 6, bin_code="A-01")
    node, receiver = station(demo), station(demo, wh2(demo))
    po = f"PO-TS-{node[-8:]}"
    r = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": po,
            "warehouse": "WH1",
            "lines": [{"sku_code": sku, "qty": 1, "unit_price": "3.00"}],
            "confirm": True,
        },
    )
    assert r.status_code == 201, r.text
    serial = f"SN-TR-{node}"
    _ingest(demo, _receipt(node, 1, po, f"RC-{node}-T", sku, [serial]))
    number = new_transfer(demo, sku, 2, from_bin="A-01")
    assert demo.post(f"{TR}/{number}/ship").status_code == 200
    received = TransferReceived(
        **_base(receiver, 1, 30),
        payload=TransferReceivedPayload(
            receipt_id=f"{receiver}-R1",
            transfer_number=number,
            warehouse="WH2",
            station=receiver,
            lines=[ReceivedLine(sku_code=sku, qty=2, verdict="pass", serials=[serial])],
        ),
    )
    _ingest(demo, received)
    got = demo.get(f"/api/v1/serials/{serial}").json()
    steps = [(s["kind"], s["doc"], s["warehouse"], s["bin"]) for s in got["steps"]]
    assert steps == [
        ("received", po, "WH1", None),
        ("put_away", po, "WH1", "A-02"),
        ("transfer_shipped", number, "WH1", "A-01"),
        ("transfer_received", number, "WH2", None),
    ]
    assert got["steps"][2]["node_id"] is None and got["steps"][2]["detail"]  # who shipped it
    assert demo.get(f"/api/v1/serials/{serial}").json() == got


# --- serials of a transfer's picked units (docs/inbound.md "Serials of a transfer's units") ---


def _phone(demo: TestClient, qty: int = 8) -> str:
    """A serial-tracked SKU of this test with ``qty`` in WH1's bin A-01."""
    tag = uuid.uuid4().hex[:8].upper()
    sku = f"PH-{tag}"
    r = demo.put(
        f"/api/v1/skus/{sku}",
        json={
            "sku_code": sku,
            "name": f"手机 {tag}",
            "barcodes": [f"69{tag}"],
            "serial_tracked": True,
        },
    )
    assert r.status_code < 300, r.text
    r = demo.post(
        "/api/v1/stock/receipts",
        json={"warehouse": "WH1", "sku_code": sku, "qty": qty, "bin": "A-01"},
    )
    assert r.status_code == 201, r.text
    return sku


def _ship(
    node: Node,
    number: str,
    sku: str,
    serials: list[str],
    *,
    qty: int | None = None,
    sid: str = "s1",
) -> TransferShippedPayload:
    return TransferShippedPayload(
        shipment_id=f"{node.id}:{number}:{sid}",
        transfer_number=number,
        shipment=1,
        warehouse="WH1",
        station=node.id,
        operator="P07",
        lines=[
            ShippedLine(
                line_no=1,
                sku_code=sku,
                qty=len(serials) if qty is None else qty,
                bin="A-01",
                short=False,
                serials=serials,
            )
        ],
    )


def _released(demo: TestClient, node: str, number: str) -> dict[str, Any]:
    with _db(demo) as s:
        rows = s.execute(
            select(Downlink.payload)
            .where(Downlink.node_id == node, Downlink.type == "transfer.release")
            .order_by(Downlink.seq)
        ).scalars()
        return [p for p in rows if p["transfer_number"] == number][-1]


def test_picked_serials_travel_with_the_transfer_and_into_the_trace(demo: TestClient) -> None:
    wh2(demo)
    Node(demo, "WH1")
    receiver = station(demo, "WH2")
    sku = _phone(demo)
    number = new_transfer(demo, sku, 3)
    picker = _picker(demo, number)
    serials = [f"SN-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    fact = picker.shipped(_ship(picker, number, sku, serials))
    picker.send(fact)
    picker.send(picker.shipped(fact.payload))  # replayed under a new seq: booked once
    t = demo.get(f"{TR}/{number}").json()
    assert (t["status"], t["lines"][0]["shipped"]) == ("shipped", 3)
    got = demo.get(f"/api/v1/serials/{serials[0]}").json()
    steps = [(s["kind"], s["doc"], s["node_id"], s["warehouse"], s["bin"]) for s in got["steps"]]
    assert steps == [("transfer_shipped", number, picker.id, "WH1", "A-01")]
    assert got["conflicts"] == 0
    # The receiver's nodes get the serials in transit.
    (line,) = _released(demo, receiver, number)["lines"]
    assert line["serials"] == serials
    # Two arrive at the receiver's station: the next release lists the one still travelling.
    arrived = TransferReceived(
        node=receiver,
        epoch=1,
        seq=1,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=TransferReceivedPayload(
            receipt_id=f"{receiver}-R1",
            transfer_number=number,
            warehouse="WH2",
            station=receiver,
            lines=[ReceivedLine(sku_code=sku, qty=2, verdict="pass", serials=serials[:2])],
        ),
    )
    Node.send(_as_node(demo, receiver), arrived)
    (line,) = _released(demo, receiver, number)["lines"]
    assert (line["expected"], line["serials"]) == (1, serials[2:])
    got = demo.get(f"/api/v1/serials/{serials[0]}").json()
    kinds = [s["kind"] for s in got["steps"]]
    assert kinds == ["transfer_shipped", "transfer_received"]  # the document's step not added
    # A node without the newest release books a unit under a serial that did not leave:
    # booked (the goods are here), and a task asks a person to look at the unit.
    odd = f"ODD-{uuid.uuid4().hex[:6]}"
    late = arrived.model_copy(
        update={
            "seq": 2,
            "id": uuid.uuid4(),
            "payload": arrived.payload.model_copy(
                update={
                    "receipt_id": f"{receiver}-R2",
                    "lines": [ReceivedLine(sku_code=sku, qty=1, verdict="pass", serials=[odd])],
                }
            ),
        }
    )
    Node.send(_as_node(demo, receiver), late)
    Node.send(_as_node(demo, receiver), late)  # sent again: one receipt, one task
    assert demo.get(f"{TR}/{number}").json()["lines"][0]["received"] == 3
    said = [d for d in _tasks(demo) if odd in d]
    assert len(said) == 1 and "did not leave on it" in said[0] and number in said[0]


def _received(node: str, seq: int, number: str, rid: str, sku: str, serials: list[str]) -> Event:
    return TransferReceived(
        **_base(node, seq, seq),
        payload=TransferReceivedPayload(
            receipt_id=rid,
            transfer_number=number,
            warehouse="WH2",
            station=node,
            lines=[ReceivedLine(sku_code=sku, qty=len(serials), verdict="pass", serials=serials)],
        ),
    )


def test_a_second_receipt_of_a_serial_that_arrived_is_booked_and_flagged(
    demo: TestClient,
) -> None:
    """Two receiving nodes of WH2, both offline, each took serial S (two units carry it):
    the hub books both receipts (the units are on its shelves; it refused the second before
    issue 17's fix, losing the unit from stock), turns both steps red, and opens one
    ``serial_conflict`` task naming both receipts, once however often the fact comes."""
    wh2(demo)
    Node(demo, "WH1")
    first, second = station(demo, "WH2"), station(demo, "WH2")
    sku = _phone(demo)
    number = new_transfer(demo, sku, 3)
    picker = _picker(demo, number)
    serials = [f"SN-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    picker.send(picker.shipped(_ship(picker, number, sku, serials)))
    Node.send(_as_node(demo, first), _received(first, 1, number, f"{first}-R1", sku, serials[:1]))
    twice = _received(second, 1, number, f"{second}-R2", sku, serials[:2])
    for _ in range(5):  # sent again and again (the acks were lost): booked once, one task
        Node.send(_as_node(demo, second), twice)
    got = state(demo, number, sku)
    assert got["transfer"]["lines"][0]["received"] == 3
    assert [r["receipt_id"] for r in got["receipts"]] == [f"{first}-R1", f"{second}-R2"]
    assert _ship_tasks(demo, "receipt_conflict", f"{second}-R2") == []
    said = _ship_tasks(demo, "serial_conflict", f"{second}-R2")
    assert len(said) == 1, said
    assert f"from receipt {first}-R1 ({number}, warehouse WH2, {first}" in said[0]
    assert f"receipt {second}-R2 ({number}, warehouse WH2, {second}) received it again" in said[0]
    trace = demo.get(f"/api/v1/serials/{serials[0]}").json()
    red = [(s["receipt"], s["node_id"], s["warehouse"]) for s in trace["steps"] if s["conflict"]]
    assert red == [(f"{first}-R1", first, "WH2"), (f"{second}-R2", second, "WH2")]


def _as_node(demo: TestClient, node_id: str) -> Node:
    n = Node.__new__(Node)
    n.demo, n.id, n.seq = demo, node_id, 0
    return n


def test_bad_serials_in_a_shipment_are_refused_and_book_nothing(demo: TestClient) -> None:
    wh2(demo)
    Node(demo, "WH1")
    sku = _phone(demo)
    number = new_transfer(demo, sku, 3)
    picker = _picker(demo, number)
    for bad in (
        _ship(picker, number, sku, ["X-1", "X-2", "X-3"], qty=2, sid="more"),
        _ship(picker, number, sku, ["X-1", "X-1"], sid="twice"),
    ):
        before = state(demo, number, sku)
        picker.send(picker.shipped(bad))
        assert state(demo, number, sku) == before
        assert _ship_tasks(demo, "shipment_conflict", bad.shipment_id)
        # Refused: the units did not leave, the trace does not say they did.
        assert demo.get("/api/v1/serials/X-1").status_code == 404


def test_a_serial_that_leaves_twice_without_arriving_is_flagged(demo: TestClient) -> None:
    wh2(demo)
    Node(demo, "WH1")
    sku = _phone(demo)
    serial = f"SN-{uuid.uuid4().hex[:8]}"
    first, second = new_transfer(demo, sku, 1), new_transfer(demo, sku, 1)
    for number in (first, second):
        picker = _picker(demo, number)
        picker.send(picker.shipped(_ship(picker, number, sku, [serial])))
    got = demo.get(f"/api/v1/serials/{serial}").json()
    # Both shipments booked and both steps red, as for a serial received twice.
    assert got["conflicts"] == 2
    said = {s["doc"]: s["conflict"] for s in got["steps"] if s["conflict"]}
    assert f"already left on transfer {first}" in said[second]
    assert f"left again on transfer {second}" in said[first]
    tasks = [
        t["detail"] for t in demo.get("/api/v1/tasks").json() if t["kind"] == "serial_conflict"
    ]
    assert any(serial in d and first in d for d in tasks)


def test_the_serials_a_release_carries_stay_within_their_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``transfer.release`` lists at most 256 KiB of serials as encoded, whole lines at a
    time (cloud/inbound/transfer_serials.py): a line beyond lists none and is received as a
    hub shipment's (tests/edge/stations/test_receive.py), so the release stays far within a
    1 MiB downlink batch. Counted in bytes: 2,400 serials of 40 characters, most of them
    CJK, are 103,200 characters with their quotes and commas but 276,000 bytes encoded."""
    from types import SimpleNamespace

    from cloud.inbound import transfer_serials as ts
    from protocol.codec import encode
    from protocol.messages import MAX_BATCH_BYTES, PoReleaseLine, TransferRelease

    wide = [f"{i:04d}" + "序" * 36 for i in range(2_400)]  # 40 characters, 112 bytes each
    plain = [f"SN-{i:017d}" for i in range(10_000)]  # 20 characters each
    rest = [f"RS-{i:017d}" for i in range(2_000)]
    left = {1: wide, 2: plain, 3: rest, 4: ["A-1", "A-2"], 5: ["B-1", "B-2"]}
    monkeypatch.setattr(ts, "shipped", lambda session, t: left)
    monkeypatch.setattr(ts, "arrived", lambda session, t: {"A-2"})
    lines = [SimpleNamespace(line_no=n, shipped=len(s), received=0) for n, s in left.items()]
    lines[3].received = 1  # A-2 arrived: A-1 is the one in transit
    lines[4].shipped = 3  # a unit the hub shipped has no serial: the line lists none
    out = ts.in_transit(None, None, lines)  # type: ignore[arg-type]
    # The wide line is over the cap alone; 10,000 plain serials fit; the next 2,000 would
    # not; a small line after them still does.
    assert sorted(out) == [2, 4] and out[2] == plain and out[4] == ["A-1"]
    release = TransferRelease(
        transfer_number="TR-1",
        warehouse="WH2",
        from_warehouse="WH1",
        status="open",
        lines=[
            PoReleaseLine(
                sku_code=f"SKU-{n}",
                ordered=len(s),
                received=0,
                expected=len(s),
                allowed=len(s),
                serials=out.get(n, []),
            )
            for n, s in left.items()
        ],
    )
    serial_bytes = sum(len(orjson.dumps(s)) for s in out.values())
    assert serial_bytes <= ts.MAX_RELEASE_SERIAL_BYTES == 256 * 1024
    assert len(encode(release)) < MAX_BATCH_BYTES // 3


def test_units_labelled_anew_past_the_release_cap_open_one_clear_task(demo: TestClient) -> None:
    """A line whose serials the release did not carry (past its cap) is received by item
    barcode: the station issues new serials (edge/stations/receive.py). Booked; one task
    for the receipt, counting the units and naming the first and last new serial, not a
    "look at those units" list; resent five times, still one."""
    wh2(demo)
    Node(demo, "WH1")
    receiver = station(demo, "WH2")
    node = _as_node(demo, receiver)
    sku = _phone(demo)
    number = new_transfer(demo, sku, 3)
    picker = _picker(demo, number)
    left = [f"SN-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    picker.send(picker.shipped(_ship(picker, number, sku, left)))
    anew = [f"{receiver}-S{i:07d}" for i in (7, 8, 9)]
    fact = _received(receiver, 1, number, f"{receiver}-RA", sku, anew)
    for _ in range(5):
        Node.send(node, fact)
    assert demo.get(f"{TR}/{number}").json()["lines"][0]["received"] == 3
    said = _ship_tasks(demo, "serial_conflict", f"{receiver}-RA")
    assert len(said) == 1, said
    assert (
        f"took 3 unit(s) by their item barcode and labelled them anew ({anew[0]} to {anew[2]})"
        in said[0]
    )
    assert "look at those units" not in said[0] and anew[1] not in said[0]


def test_two_nodes_receiving_one_serial_at_the_same_instant_are_flagged_once(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two receiving nodes' receipts of one serial ingested at once (two hub workers): the
    transfer's row lock records them in turn, so the second sees the first: both booked,
    both steps red, one task. The read of the serial's steps is slowed to widen the race.
    No retry: the ingests lock the transfer before their nodes (cloud/sync/locks.py), so
    they wait for each other instead of deadlocking (tests/cloud/inbound/
    test_ingest_locks.py runs that many times)."""
    import threading
    import time

    from cloud.stock import serials as trace

    read = trace.rows_of

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = read(*args, **kwargs)
        time.sleep(0.5)
        return got

    monkeypatch.setattr(trace, "rows_of", slow)

    wh2(demo)
    Node(demo, "WH1")
    nodes = [station(demo, "WH2"), station(demo, "WH2")]
    sku = _phone(demo)
    number = new_transfer(demo, sku, 2)
    picker = _picker(demo, number)
    serials = [f"SN-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    picker.send(picker.shipped(_ship(picker, number, sku, serials)))
    start = threading.Barrier(2)
    errors: list[Exception] = []
    done: list[str] = []

    def receive(node: str) -> None:
        start.wait()
        fact = _received(node, 1, number, f"{node}-RX", sku, serials[:1])
        try:
            Node.send(_as_node(demo, node), fact)
            done.append(node)
        except OperationalError as e:
            errors.append(e)

    threads = [threading.Thread(target=receive, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == sorted(nodes), errors
    assert demo.get(f"{TR}/{number}").json()["lines"][0]["received"] == 2
    trace = demo.get(f"/api/v1/serials/{serials[0]}").json()
    assert trace["conflicts"] == 2
    said = [d for d in _tasks(demo) if serials[0] in d]
    assert len(said) == 1, said
