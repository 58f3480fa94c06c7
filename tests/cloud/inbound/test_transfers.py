"""Transfers (调拨单) as documents: audit, ship, receive with QC, the reversals, in-transit in
exactly one place, and the release to the receiving warehouse's nodes (docs/inbound.md
"Transfers")."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Downlink
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import ReceivedLine, TransferReceived, TransferReceivedPayload
from tests.cloud.inbound.conftest import Po, f10, station
from tests.cloud.inbound.receiving_node import downlink, receive_at_node
from tests.cloud.inbound.transfer_helpers import (
    TR,
    new_transfer,
    receipt,
    sku_with_stock,
    state,
    stock,
    wh2,
)


def _releases(c: TestClient, node: str, number: str) -> list[dict[str, Any]]:
    with transaction(session_factory(c.app.state.engine)) as s:  # type: ignore[attr-defined]
        rows = s.execute(
            select(Downlink.payload)
            .where(Downlink.node_id == node, Downlink.type == "transfer.release")
            .order_by(Downlink.seq)
        ).scalars()
        return [p for p in rows if p["transfer_number"] == number]


def test_a_transfer_is_audited_shipped_received_with_qc_and_reversed(demo: TestClient) -> None:
    sku = sku_with_stock(demo, 30)
    receiver = station(demo, wh2(demo))
    number = f"TR-FLOW-{sku}"
    r = demo.post(
        TR,
        json={
            "number": number,
            "from_warehouse": "WH1",
            "to_warehouse": "WH2",
            "from_bin": "A-01",
            "lines": [{"sku_code": sku, "qty": 10}],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft" and r.json()["total_cost"] is None
    # A draft, and an audited transfer, have not left: nothing in transit, nothing sent.
    assert demo.post(f"{TR}/{number}/ship").status_code == 409
    assert demo.post(f"{TR}/{number}/audit").json()["status"] == "audited"
    assert stock(demo, sku, "WH2")["inbound"] == 0 and _releases(demo, receiver, number) == []

    t = demo.post(f"{TR}/{number}/ship").json()
    assert t["status"] == "shipped" and t["lines"][0]["in_transit"] == 10
    wh1 = f10(demo, sku, "WH1")
    assert (wh1["on_hand"], wh1["inbound"]) == (20, 0)
    assert stock(demo, sku, "WH2") == {"on_hand": 0, "damaged": 0, "inbound": 10}
    sent = _releases(demo, receiver, number)[-1]
    assert sent["status"] == "open" and sent["from_warehouse"] == "WH1"
    assert sent["lines"][0]["expected"] == 10 and sent["lines"][0]["barcodes"]

    # Partial receipt with a QC fail: 6 sellable, 1 damaged, 3 still in transit.
    body = {
        "receipt_id": f"R1-{sku}",
        "warehouse": "WH2",
        "lines": [
            {"sku_code": sku, "qty": 6},
            {"sku_code": sku, "qty": 1, "verdict": "fail", "reason": "外盒破损"},
        ],
    }
    r = demo.post(f"{TR}/{number}/receipts", json=body)
    assert r.status_code == 201 and r.json()["new"] is True, r.text
    assert stock(demo, sku, "WH2") == {"on_hand": 6, "damaged": 1, "inbound": 3}
    t = demo.get(f"{TR}/{number}").json()
    assert t["status"] == "partially_received"
    assert (t["lines"][0]["received"], t["lines"][0]["rejected"]) == (7, 1)
    assert _releases(demo, receiver, number)[-1]["lines"][0]["allowed"] == 3

    # The same receipt again (a retry): 200, nothing booked twice.
    before = state(demo, number, sku)
    again = demo.post(f"{TR}/{number}/receipts", json=body)
    assert again.status_code == 200 and again.json()["new"] is False
    assert state(demo, number, sku) == before

    # 取消入库: the receipt's units are in transit again, at the receiver's inbound only.
    rev = demo.post(f"{TR}/{number}/receipts/R1-{sku}/cancel", json={"reason": "录错"})
    assert rev.status_code == 201 and rev.json()["kind"] == "receipt", rev.text
    assert stock(demo, sku, "WH2") == {"on_hand": 0, "damaged": 0, "inbound": 10}
    assert demo.get(f"{TR}/{number}").json()["status"] == "shipped"
    # 冲销出库: back at the sender; nothing in transit anywhere.
    rev2 = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "发错仓"})
    assert rev2.status_code == 201 and rev2.json()["kind"] == "shipment", rev2.text
    assert f10(demo, sku, "WH1")["on_hand"] == 30
    assert stock(demo, sku, "WH2") == {"on_hand": 0, "damaged": 0, "inbound": 0}
    assert demo.get(f"{TR}/{number}").json()["status"] == "audited"
    assert _releases(demo, receiver, number)[-1]["status"] == "withdrawn"
    kinds = [x["kind"] for x in demo.get(f"{TR}/{number}/reversals").json()]
    assert kinds == ["receipt", "shipment"]

    # Shipped again and received in full: done.
    assert demo.post(f"{TR}/{number}/ship").json()["status"] == "shipped"
    r = demo.post(f"{TR}/{number}/receipts", json=receipt(f"R2-{sku}", sku, 10))
    assert r.status_code == 201, r.text
    assert demo.get(f"{TR}/{number}").json()["status"] == "done"
    assert f10(demo, sku, "WH1")["on_hand"] == 20
    assert stock(demo, sku, "WH2") == {"on_hand": 10, "damaged": 0, "inbound": 0}
    assert _releases(demo, receiver, number)[-1]["status"] == "received"
    listed = demo.get(TR, params={"status": "done", "sku_code": sku}).json()
    assert [x["number"] for x in listed] == [number]


def test_a_bin_to_bin_transfer_within_one_warehouse(demo: TestClient) -> None:
    sku = sku_with_stock(demo, 12, "A-01")
    number = new_transfer(
        demo, sku, 5, to_warehouse="WH1", from_bin="A-01", to_bin="A-02", kind="same_price"
    )
    demo.post(f"{TR}/{number}/ship")
    row = f10(demo, sku, "WH1")
    assert (row["on_hand"], row["inbound"]) == (7, 5)
    r = demo.post(f"{TR}/{number}/receipts", json=receipt(f"B-{sku}", sku, 5, "WH1"))
    assert r.status_code == 201, r.text
    row = f10(demo, sku, "WH1")
    assert (row["on_hand"], row["inbound"]) == (12, 0)
    moves = demo.get("/api/v1/stock/movements", params={"document": f"tr:{number}"}).json()
    assert sorted((m["bin_code"], m["bin_delta"]) for m in moves) == [("A-01", -5), ("A-02", 5)]


def test_a_fixed_cost_transfer_carries_its_unit_costs(demo: TestClient) -> None:
    sku = sku_with_stock(demo, 5)
    number = new_transfer(
        demo,
        sku,
        3,
        kind="fixed_cost",
        lines=[{"sku_code": sku, "qty": 3, "unit_cost": "12.3456"}],
    )
    t = demo.get(f"{TR}/{number}").json()
    assert t["kind"] == "fixed_cost" and t["lines"][0]["unit_cost"] == "12.3456"
    assert t["total_cost"] == "37.04"


def test_a_transfer_received_at_a_node_is_booked_once(demo: TestClient) -> None:
    """The receiver's ``transfer.received`` fact, ingested twice and once more under a new
    seq, books one receipt."""
    sku = sku_with_stock(demo, 8)
    node = station(demo, wh2(demo))
    number = new_transfer(demo, sku, 4)
    demo.post(f"{TR}/{number}/ship")
    payload = TransferReceivedPayload(
        receipt_id=f"{node}-R1",
        transfer_number=number,
        warehouse="WH2",
        station=node,
        lines=[ReceivedLine(sku_code=sku, qty=4, verdict="pass")],
    )

    def event(seq: int) -> TransferReceived:
        return TransferReceived(
            node=node,
            epoch=1,
            seq=seq,
            id=uuid.uuid4(),
            hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
            payload=payload,
        )

    sessions = session_factory(demo.app.state.engine)  # type: ignore[attr-defined]
    for events in ([event(1)], [event(1)], [event(2)]):
        with transaction(sessions) as s:
            apply_batch(s, Batch(node=node, events=events), datetime.now(UTC))
    assert stock(demo, sku, "WH2") == {"on_hand": 4, "damaged": 0, "inbound": 0}
    rs = demo.get(f"{TR}/{number}/receipts").json()
    assert [(x["receipt_id"], x["source"]) for x in rs] == [(f"{node}-R1", node)]
    assert demo.get(f"{TR}/{number}").json()["status"] == "done"


def test_a_transfer_is_received_at_the_receivers_node_by_scanning_its_number(
    # The hub ships a transfer WH2 → WH1 and releases it to WH1's node; the node's receiving
    # station (real scanner port, label printer simulator, uplink down) receives it by its
    # number like a PO: 3 pass, 1 QC fail. Its ``transfer.received`` fact books once.
    demo: TestClient,
    tmp_path: Path,
) -> None:
    wh2(demo)
    tag = uuid.uuid4().hex[:8].upper()
    number, sku = f"TN{tag}", f"TN-{tag}"
    r = demo.put(
        f"/api/v1/skus/{sku}",
        json={"sku_code": sku, "name": f"调拨 {tag}", "barcodes": [f"69{number}"]},
    )
    assert r.status_code < 300, r.text
    assert (
        demo.post(
            "/api/v1/stock/receipts", json={"warehouse": "WH2", "sku_code": sku, "qty": 6}
        ).status_code
        == 201
    )
    node_id = station(demo, "WH1")
    new = demo.post(
        TR,
        json={
            "number": number,
            "from_warehouse": "WH2",
            "to_warehouse": "WH1",
            "lines": [{"sku_code": sku, "qty": 5}],
            "audit": True,
        },
    )
    assert new.status_code == 201, new.text
    assert demo.post(f"{TR}/{number}/ship").status_code == 200
    batch = downlink(demo, node_id)
    assert any(
        c.type == "transfer.release" and c.payload.transfer_number == number for c in batch.changes
    )
    events = asyncio.run(
        asyncio.wait_for(receive_at_node(tmp_path, node_id, batch, Po(number, sku)), 60)
    )
    (fact,) = [e for e in events if isinstance(e, TransferReceived)]
    assert fact.payload.transfer_number == number and fact.payload.warehouse == "WH1"
    lines = {(ln.verdict, ln.qty, ln.reason) for ln in fact.payload.lines}
    assert lines == {("pass", 3, None), ("fail", 1, "外箱破损")}

    sessions = session_factory(demo.app.state.engine)  # type: ignore[attr-defined]
    for _ in range(2):  # delivered twice: booked once
        with transaction(sessions) as s:
            apply_batch(s, Batch(node=node_id, events=events), datetime.now(UTC))
    t = demo.get(f"{TR}/{number}").json()
    assert t["status"] == "partially_received"
    assert (t["lines"][0]["received"], t["lines"][0]["rejected"]) == (4, 1)
    assert len(demo.get(f"{TR}/{number}/receipts").json()) == 1
    row = f10(demo, sku, "WH1")
    assert (row["on_hand"], row["damaged"], row["inbound"]) == (3, 1, 1)
    assert stock(demo, sku, "WH2")["on_hand"] == 1
