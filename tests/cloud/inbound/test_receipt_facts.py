"""``po.received`` facts from a receiving station: booked once through the sync ingest,
and what the hub cannot book becomes a task, never a half-booking (docs/inbound.md)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from cloud.db.engine import session_factory, transaction
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import Event, PoReceived, PoReceivedPayload, ReceivedLine
from tests.cloud.inbound.conftest import Po, f10, state, station
from tests.cloud.inbound.receiving_node import downlink, receive_at_node


def _fact(
    node: str, po: str, seq: int, rid: str, *lines: ReceivedLine, warehouse: str = "WH1"
) -> PoReceived:
    return PoReceived(
        node=node,
        epoch=1,
        seq=seq,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=PoReceivedPayload(
            receipt_id=rid,
            po_number=po,
            warehouse=warehouse,
            station=node,
            operator="R02",
            lines=list(lines),
        ),
    )


def _ingest(demo: TestClient, *events: Event) -> None:
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        apply_batch(s, Batch(node=events[0].node, events=events), datetime.now(UTC))


def test_a_station_receipt_books_once_even_sent_again_under_a_new_seq(
    demo: TestClient, po: Po
) -> None:
    node = station(demo)
    rid = f"RC-{node}-0001"
    lines = (
        ReceivedLine(sku_code=po.sku, qty=48, verdict="pass", bin="A-01"),
        ReceivedLine(sku_code=po.sku, qty=2, verdict="fail", reason="scratched"),
    )
    stock0 = f10(demo, po.sku)
    first = _fact(node, po.number, 1, rid, *lines)
    _ingest(demo, first)
    after = state(demo, po.number, po.sku)
    assert after["f10"]["on_hand"] == stock0["on_hand"] + 48
    assert after["f10"]["damaged"] == stock0["damaged"] + 2
    assert after["f10"]["inbound"] == 50
    got = after["po"]
    assert got["status"] == "partially_received" and got["lines"][0]["rejected"] == 2
    assert [r["source"] for r in after["receipts"]] == [node]
    # The same event again (a replay), and the same receipt in a later event (the station
    # restarted mid-sync and sent it once more): nothing more is booked.
    _ingest(demo, first)
    _ingest(demo, _fact(node, po.number, 2, rid, *lines))
    assert state(demo, po.number, po.sku) == after
    assert not [
        t
        for t in demo.get("/api/v1/tasks").json()
        if t["kind"] == "receipt_conflict" and node in t["detail"]
    ]


def test_what_the_hub_cannot_book_becomes_a_task_and_books_nothing(
    demo: TestClient, po: Po
) -> None:
    node = station(demo)

    def conflicts() -> list[str]:
        return sorted(
            t["detail"]
            for t in demo.get("/api/v1/tasks").json()
            if t["kind"] == "receipt_conflict" and node in t["detail"]
        )

    before = state(demo, po.number, po.sku)
    _ingest(
        demo,
        _fact(
            node, po.number, 1, f"{node}-1", ReceivedLine(sku_code=po.sku, qty=106, verdict="pass")
        ),
        _fact(
            node,
            po.number,
            2,
            f"{node}-2",
            ReceivedLine(sku_code=po.sku, qty=1, verdict="pass"),
            warehouse="BCP",
        ),
    )
    assert state(demo, po.number, po.sku) == before
    details = conflicts()
    assert len(details) == 2
    assert f"{node}-1 " in details[0] and "allows at most 105 more" in details[0]
    assert f"{node}-2 " in details[1] and "is at warehouse WH1, not BCP" in details[1]
    # The PO closed while the station was offline: the late receipt is a task too.
    demo.post(f"/api/v1/purchase-orders/{po.number}/close", json={"reason": "supplier out"})
    before = state(demo, po.number, po.sku)
    _ingest(
        demo,
        _fact(
            node, po.number, 3, f"{node}-3", ReceivedLine(sku_code=po.sku, qty=5, verdict="pass")
        ),
    )
    assert state(demo, po.number, po.sku) == before
    assert any(f"{node}-3 " in d and "is closed" in d for d in conflicts())


def test_a_po_released_by_the_hub_is_received_at_a_node_and_booked_once(
    # A PO released by the hub, received at a node's receiving station (real scanner port,
    # label printer simulator, uplink down): the hub books the station's receipt once,
    # however often the fact arrives (docs/stations.md "Receiving station").
    demo: TestClient,
    po: Po,
    tmp_path: Path,
) -> None:
    node_id = station(demo)
    batch = downlink(demo, node_id)
    assert any(c.type == "po.release" and c.payload.po_number == po.number for c in batch.changes)
    events = asyncio.run(asyncio.wait_for(receive_at_node(tmp_path, node_id, batch, po), 60))
    (fact,) = [e for e in events if isinstance(e, PoReceived)]
    lines = {(ln.verdict, ln.qty, ln.bin, ln.reason) for ln in fact.payload.lines}
    assert lines == {("pass", 3, "A-05", None), ("fail", 1, "A-08", "外箱破损")}

    before = state(demo, po.number, po.sku)
    _ingest(demo, *events)  # the uplink comes back: the node's whole stream
    after = state(demo, po.number, po.sku)
    line = after["po"]["lines"][0]
    assert (line["received"], line["rejected"]) == (4, 1)
    assert after["po"]["status"] == "partially_received"
    assert after["f10"]["on_hand"] == before["f10"]["on_hand"] + 3
    assert after["f10"]["damaged"] == before["f10"]["damaged"] + 1
    assert after["f10"]["inbound"] == 96
    assert [r["receipt_id"] for r in after["receipts"]] == [fact.payload.receipt_id]
    # Sent twice: the same events replayed, and the same fact in a later event (a node that
    # restarted before the ack): nothing more is booked.
    _ingest(demo, *events)
    again = fact.model_copy(update={"seq": events[-1].seq + 1, "id": uuid.uuid4()})
    _ingest(demo, again)
    assert state(demo, po.number, po.sku) == after
