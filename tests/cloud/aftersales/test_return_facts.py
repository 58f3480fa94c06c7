"""Returns released to the warehouse's nodes (``return.release``) and received at a returns
station (``return.received``): the hub books a received return once, however often the
fact arrives, and what it cannot book becomes a task, never a half-booking."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Node
from cloud.nodes import downlink
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    Event,
    ReturnedLine,
    ReturnReceived,
    ReturnReceivedPayload,
    ReturnReleased,
)
from tests.cloud.aftersales.conftest import Shipped, ok, state
from tests.cloud.aftersales.returns_node import return_at_node
from tests.cloud.inbound.conftest import station

AS = "/api/v1/aftersales"


def _fact(
    node: str, seq: int, request: str, rid: str, *lines: ReturnedLine, warehouse: str = "WH1"
) -> ReturnReceived:
    return ReturnReceived(
        node=node,
        epoch=1,
        seq=seq,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=ReturnReceivedPayload(
            receipt_id=rid,
            request=request,
            warehouse=warehouse,
            station=node,
            operator="R07",
            lines=list(lines),
        ),
    )


def _ingest(demo: TestClient, *events: Event) -> None:
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        apply_batch(s, Batch(node=events[0].node, events=events), datetime.now(UTC))


def _releases(demo: TestClient, node: str) -> list[ReturnReleased]:
    with demo.app.state.sessions() as s:  # type: ignore[attr-defined]
        n = s.get_one(Node, node)
        batch = downlink.downlink_after(s, n, 0, limit=5000)
    return [c for c in batch.changes if isinstance(c, ReturnReleased)]


def _approved(demo: TestClient, s: Shipped, qty: int = 2) -> str:
    body = {"order_no": s.order_no, "kind": "return", "lines": [{"order_line_id": "1", "qty": qty}]}
    no = str(ok(demo.post(AS, json=body))["number"])
    ok(demo.post(f"{AS}/{no}/approve", json={}))
    return no


def test_an_approved_return_reaches_the_warehouses_nodes_and_the_node_assigned_later(
    demo: TestClient, shipped: Shipped
) -> None:
    node = station(demo)
    no = _approved(demo, shipped)
    mine = [c.payload for c in _releases(demo, node) if c.payload.request == no]
    assert len(mine) == 1
    rel = mine[0]
    assert (rel.status, rel.order_id, rel.warehouse, rel.kind) == (
        "open",
        shipped.order_no,
        "WH1",
        "return",
    )
    assert [(ln.line_no, ln.sku_code, ln.qty, ln.barcodes) for ln in rel.lines] == [
        (1, shipped.sku, 2, [shipped.barcode])
    ]
    later = station(demo)  # assigned after the approval: gets the open request too
    assert [c.payload.request for c in _releases(demo, later) if c.payload.request == no] == [no]
    # rejected: the nodes are told to take nothing for it
    ok(demo.post(f"{AS}/{no}/reject", json={"reason": "买家撤销"}))
    last = [c.payload for c in _releases(demo, node) if c.payload.request == no][-1]
    assert last.status == "closed"


def test_a_received_return_fact_books_once_even_sent_again_under_a_new_seq(
    demo: TestClient, shipped: Shipped
) -> None:
    node = station(demo)
    no = _approved(demo, shipped)
    line = ReturnedLine(line_no=1, sku_code=shipped.sku, sellable=1, damaged=1, reason="外壳裂")
    before = state(demo, shipped.order_no, shipped.sku)
    first = _fact(node, 1, no, f"{node}-T1", line)
    _ingest(demo, first)
    after = state(demo, shipped.order_no, shipped.sku)
    assert after["level"]["on_hand"] == before["level"]["on_hand"] + 1
    assert after["level"]["damaged"] == before["level"]["damaged"] + 1
    got = ok(demo.get(f"{AS}/{no}"))
    assert got["status"] == "received" and got["receipt_id"] == f"{node}-T1"
    assert got["history"][-1]["actor"] == f"node:{node}"
    _ingest(demo, first)  # the same event replayed: the ingest skips it
    _ingest(demo, _fact(node, 2, no, f"{node}-T1", line))  # after a restart, a new seq
    assert state(demo, shipped.order_no, shipped.sku) == after
    tasks = ok(demo.get("/api/v1/tasks", params={"limit": 1000}))
    assert not [t for t in tasks if no in t["detail"] and t["kind"] == "return_conflict"]
    # received: the nodes are told
    assert [c.payload for c in _releases(demo, node) if c.payload.request == no][
        -1
    ].status == "received"


def test_a_conflicting_or_unbookable_return_fact_opens_a_task_and_books_nothing(
    demo: TestClient, shipped: Shipped
) -> None:
    node = station(demo)
    no = _approved(demo, shipped)
    ok_line = ReturnedLine(line_no=1, sku_code=shipped.sku, sellable=2)
    _ingest(demo, _fact(node, 1, no, f"{node}-T1", ok_line))
    after = state(demo, shipped.order_no, shipped.sku)
    bad = [
        # other content under another receipt of the same request
        _fact(
            node,
            2,
            no,
            f"{node}-T2",
            ReturnedLine(line_no=1, sku_code=shipped.sku, sellable=1, missing=1),
        ),
        # damaged without a reason (the protocol takes it; the hub does not)
        _fact(node, 3, no, f"{node}-T3", ReturnedLine(line_no=1, sku_code=shipped.sku, damaged=2)),
        # a request the account does not have
        _fact(node, 4, "AS-NOPE", f"{node}-T4", ok_line),
        # a warehouse the node is not at
        _fact(node, 5, no, f"{node}-T5", ok_line, warehouse="DMG"),
    ]
    for n, ev in enumerate(bad):
        _ingest(demo, ev)
        assert state(demo, shipped.order_no, shipped.sku) == after, n
    tasks = [
        t
        for t in ok(demo.get("/api/v1/tasks", params={"limit": 1000}))
        if t["kind"] == "return_conflict" and node in t["detail"]
    ]
    assert len(tasks) == 4
    assert any("was received already" in t["detail"] for t in tasks)
    assert any("no after-sales request 'AS-NOPE'" in t["detail"] for t in tasks)
    assert any("not DMG" in t["detail"] for t in tasks)


def test_the_protocol_refuses_a_malformed_return(demo: TestClient) -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ReturnedLine(line_no=0, sku_code="X", sellable=1)
    with pytest.raises(ValidationError):
        ReturnedLine(line_no=1, sku_code="X", sellable=-1)
    with pytest.raises(ValidationError):
        ReturnReceivedPayload(
            receipt_id="R", request="AS", warehouse="WH1", station="n-1", lines=[]
        )


def test_a_return_released_by_the_hub_is_received_at_a_node_through_a_restart_and_booked_once(
    demo: TestClient, shipped: Shipped, tmp_path: Path
) -> None:
    # The approved return reaches the node's store over the downlink; the parcel is found
    # by the order's number, QC'd across a daemon restart with the uplink down, and the
    # node's whole stream, sent twice and once more under a new seq, books once.
    node = station(demo)
    no = _approved(demo, shipped)
    with demo.app.state.sessions() as s:  # type: ignore[attr-defined]
        batch = downlink.downlink_after(s, s.get_one(Node, node), 0, limit=100_000)
    events, _shown = asyncio.run(
        asyncio.wait_for(
            return_at_node(tmp_path, node, batch, shipped.order_no, shipped.barcode), 60
        )
    )
    (fact,) = [e for e in events if isinstance(e, ReturnReceived)]
    assert fact.payload.request == no
    assert [
        (ln.line_no, ln.sellable, ln.damaged, ln.missing, ln.reason) for ln in fact.payload.lines
    ] == [(1, 1, 1, 0, "外壳裂")]
    before = state(demo, shipped.order_no, shipped.sku)
    _ingest(demo, *events)
    after = state(demo, shipped.order_no, shipped.sku)
    assert after["level"]["on_hand"] == before["level"]["on_hand"] + 1
    assert after["level"]["damaged"] == before["level"]["damaged"] + 1
    got = ok(demo.get(f"{AS}/{no}"))
    assert got["status"] == "received" and got["receipt_id"] == fact.payload.receipt_id
    assert [(r["qty"], r["amount"]) for r in got["refunds"]] == [(2, "39.98")]
    _ingest(demo, *events)
    _ingest(demo, fact.model_copy(update={"seq": events[-1].seq + 1, "id": uuid.uuid4()}))
    assert state(demo, shipped.order_no, shipped.sku) == after
