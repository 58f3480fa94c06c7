"""Serials of a transfer's units (docs/inbound.md "Serials of a transfer's units"): the
sender's pick scans them into ``transfer.shipped``; the hub checks them (one per unit, once),
keeps them in each unit's trace as "shipped on transfer T from WH1" (booked shipments
only, once however often the fact comes), sends those in transit to the receiver with
``transfer.release`` (less what arrived), and flags a serial that leaves twice without
arriving. Both databases (the module's ``demo`` hub)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Downlink
from protocol.hlc import pack
from protocol.messages import (
    ReceivedLine,
    ShippedLine,
    TransferReceived,
    TransferReceivedPayload,
    TransferShippedPayload,
)
from tests.cloud.inbound.conftest import station
from tests.cloud.inbound.test_transfer_ship import Node, _db, _picker, _tasks
from tests.cloud.inbound.transfer_helpers import TR, new_transfer, state, wh2


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
        assert _tasks(demo, "shipment_conflict", bad.shipment_id)
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
    assert got["conflicts"] == 1
    (flagged,) = [s for s in got["steps"] if s["conflict"]]
    assert flagged["doc"] == second and f"already left on transfer {first}" in flagged["conflict"]
    tasks = [
        t["detail"] for t in demo.get("/api/v1/tasks").json() if t["kind"] == "serial_conflict"
    ]
    assert any(serial in d and first in d for d in tasks)
