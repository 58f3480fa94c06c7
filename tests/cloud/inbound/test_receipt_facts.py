"""``po.received`` facts from a receiving station: booked once through the sync ingest,
and what the hub cannot book becomes a task, never a half-booking (docs/inbound.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from cloud.db.engine import session_factory, transaction
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import PoReceived, PoReceivedPayload, ReceivedLine
from tests.cloud.inbound.conftest import LEATHER, NODE, f10, state


def _fact(seq: int, rid: str, *lines: ReceivedLine, warehouse: str = "WH1") -> PoReceived:
    return PoReceived(
        node=NODE,
        epoch=1,
        seq=seq,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=PoReceivedPayload(
            receipt_id=rid,
            po_number="PO-2026-001",
            warehouse=warehouse,
            station=NODE,
            operator="R02",
            lines=list(lines),
        ),
    )


def _ingest(engine: object, *events: PoReceived) -> None:
    with transaction(session_factory(engine)) as s:  # type: ignore[arg-type]
        apply_batch(s, Batch(node=NODE, events=events), datetime.now(UTC))


def test_a_station_receipt_books_once_even_sent_again_under_a_new_seq(
    demo: TestClient, engine_of: object
) -> None:
    lines = (
        ReceivedLine(sku_code=LEATHER, qty=48, verdict="pass", bin="A-01"),
        ReceivedLine(sku_code=LEATHER, qty=2, verdict="fail", reason="scratched"),
    )
    stock0 = f10(demo, LEATHER)
    first = _fact(1, "RC-wh1-inbound-1-0001", *lines)
    _ingest(engine_of, first)
    after = state(demo)
    assert after["f10"]["on_hand"] == stock0["on_hand"] + 48
    assert after["f10"]["damaged"] == stock0["damaged"] + 2
    assert after["f10"]["inbound"] == 50
    po = after["po"]
    assert po["status"] == "partially_received" and po["lines"][0]["rejected"] == 2
    assert [r["source"] for r in after["receipts"]] == [NODE]
    # The same event again (a replay), and the same receipt in a later event (the station
    # restarted mid-sync and sent it once more): nothing more is booked.
    _ingest(engine_of, first)
    _ingest(engine_of, _fact(2, "RC-wh1-inbound-1-0001", *lines))
    assert state(demo) == after
    assert not [t for t in demo.get("/api/v1/tasks").json() if t["kind"] == "receipt_conflict"]


def test_what_the_hub_cannot_book_becomes_a_task_and_books_nothing(
    demo: TestClient, engine_of: object
) -> None:
    before = state(demo)
    _ingest(
        engine_of,
        _fact(1, "RC-1", ReceivedLine(sku_code=LEATHER, qty=106, verdict="pass")),
        _fact(2, "RC-2", ReceivedLine(sku_code=LEATHER, qty=1, verdict="pass"), warehouse="BCP"),
    )
    assert state(demo) == before
    tasks = [t for t in demo.get("/api/v1/tasks").json() if t["kind"] == "receipt_conflict"]
    details = sorted(t["detail"] for t in tasks)
    assert len(details) == 2
    assert "RC-1" in details[0] and "allows at most 105 more" in details[0]
    assert "RC-2" in details[1] and "is at warehouse WH1, not BCP" in details[1]
    # The PO closed while the station was offline: the late receipt is a task too.
    demo.post("/api/v1/purchase-orders/PO-2026-001/close", json={"reason": "supplier out"})
    before = state(demo)
    _ingest(engine_of, _fact(3, "RC-3", ReceivedLine(sku_code=LEATHER, qty=5, verdict="pass")))
    assert state(demo) == before
    tasks = [t for t in demo.get("/api/v1/tasks").json() if t["kind"] == "receipt_conflict"]
    assert any("RC-3" in t["detail"] and "is closed" in t["detail"] for t in tasks)
