"""The label of a serial the hub issued (issue 17; docs/inbound.md "The new serial's label"):
the lead's new serial is sent to the unit's receiving node as ``serial.label``; the node's
``serial.label_printed`` is recorded once (printed at, by which node) with a step in the
trace; "print again" re-sends an unprinted label, a printed one only as an explicit,
recorded re-print; a warehouse without a receiving node is told, and bad input changes
nothing. Both databases (the hub fixture's parameters)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Downlink
from edge.config import EdgeConfig
from edge.runtimes.receive import ReceiveRuntime
from edge.store.store import Store
from protocol.messages import (
    EVENT_ADAPTER,
    NodeStarted,
    NodeStartedPayload,
    SerialLabelPrinted,
    SerialLabelPrintedPayload,
)
from simulators.devices.printer import LabelPrinterSimulator, PrintedLabel
from tests.cloud.inbound.conftest import Po, station
from tests.cloud.inbound.receiving_node import downlink
from tests.cloud.inbound.test_serial_conflicts import _api_receipt
from tests.cloud.inbound.test_serial_trace import _base, _ingest, _receipt
from tests.cloud.inbound.test_transfer_ship import _db
from tests.edge.runtimes.receiving import Recorder
from tests.support import free_port, until


def _receiving_node(demo: TestClient, warehouse: str = "WH1") -> str:
    """A receiving station's node of ``warehouse`` (its node.started says ``inbound``)."""
    node = station(demo, warehouse)
    started = NodeStarted(
        **_base(node, 1, 0), payload=NodeStartedPayload(software="t", station_kind="inbound")
    )
    _ingest(demo, started)
    return node


def _label_changes(demo: TestClient, node: str) -> list[dict[str, Any]]:
    with _db(demo) as s:
        rows = s.execute(
            select(Downlink.payload)
            .where(Downlink.node_id == node, Downlink.type == "serial.label")
            .order_by(Downlink.seq)
        ).scalars()
        return [dict(p) for p in rows]


def _printed(node: str, seq: int, request: str, serial: str, sku: str) -> SerialLabelPrinted:
    return SerialLabelPrinted(
        **_base(node, seq, 30),
        payload=SerialLabelPrintedPayload(
            request=request, serial=serial, sku_code=sku, printer="item-labels"
        ),
    )


def _relabelled(demo: TestClient, po: Po, node: str | None) -> tuple[str, str]:
    """Serial X received on the API and again (by ``node``'s receipt, or a second API
    receipt); the lead gives the second unit a new serial. Returns (X, the new serial)."""
    x = f"SNL-{uuid.uuid4().hex[:8]}"
    assert _api_receipt(demo, po, f"API-{x}", [x]).status_code == 201
    if node is None:
        assert _api_receipt(demo, po, f"RC-{x}", [x]).status_code == 201
    else:
        _ingest(demo, _receipt(node, 2, po.number, f"RC-{x}", po.sku, [x]))
    r = demo.post(
        f"/api/v1/serials/{x}/resolve", json={"receipt": f"RC-{x}", "action": "new_serial"}
    )
    assert r.status_code == 200, r.text
    return x, r.json()["new_serial"]


def test_the_new_serials_label_goes_to_the_receiving_node_and_its_print_is_recorded_once(
    demo: TestClient, po: Po
) -> None:
    node = _receiving_node(demo)
    x, new = _relabelled(demo, po, node)
    (ask,) = _label_changes(demo, node)
    assert ask["serial"] == new and ask["replaces"] == x and ask["sku_code"] == po.sku
    assert ask["receipt"] == f"RC-{x}" and ask["warehouse"] == "WH1"
    assert ask["barcodes"] and ask["reprint"] is False
    trace = demo.get(f"/api/v1/serials/{new}").json()
    assert [s["kind"] for s in trace["steps"]][-2:] == ["issued", "label_sent"]
    assert trace["steps"][-1]["detail"] == f"label sent to node {node} to print"
    (label,) = trace["labels"]
    assert label["node_id"] == node and label["sends"] == 1 and label["printed_at"] is None
    # The node never said it is online (no retained state): why nothing printed yet.
    assert label["node_online"] is False and label["node_last_seen"] is not None

    # Not printed yet (the node is offline): print again sends the same request again.
    r = demo.post(f"/api/v1/serials/{new}/label", json={})
    assert r.status_code == 200, r.text
    assert r.json()["request"] == label["request"] and r.json()["sends"] == 2
    assert [c["request"] for c in _label_changes(demo, node)] == [label["request"]] * 2

    # The node prints it; the fact comes twice (a lost ack): recorded once.
    _ingest(demo, _printed(node, 3, label["request"], new, po.sku))
    _ingest(demo, _printed(node, 4, label["request"], new, po.sku))
    trace = demo.get(f"/api/v1/serials/{new}").json()
    (label,) = trace["labels"]
    assert label["printed_by"] == node and label["printer"] == "item-labels"
    assert label["printed_at"] is not None and label["unconfirmed"] is False
    printed = [s for s in trace["steps"] if s["kind"] == "label_printed"]
    assert len(printed) == 1 and printed[0]["node_id"] == node
    assert printed[0]["detail"] == f"label printed by node {node} on printer item-labels"

    # Printed: print again is refused, nothing changes; a re-print is explicit and recorded.
    before = demo.get(f"/api/v1/serials/{new}").json()
    r = demo.post(f"/api/v1/serials/{new}/label", json={})
    assert r.status_code == 409, r.text
    assert f"the label of serial {new} was printed by node {node}" in r.text
    assert demo.get(f"/api/v1/serials/{new}").json() == before
    assert len(_label_changes(demo, node)) == 2
    r = demo.post(f"/api/v1/serials/{new}/label", json={"reprint": True, "note": "标签被撕坏"})
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["reprint"] is True and again["request"] != label["request"]
    assert again["asked_by"] == "user:admin" and again["note"] == "标签被撕坏"
    assert again["node_id"] == node and again["printed_at"] is None
    assert _label_changes(demo, node)[-1]["reprint"] is True
    last = demo.get(f"/api/v1/serials/{new}").json()["steps"][-1]
    assert last["kind"] == "label_sent" and "re-print asked by user:admin" in last["detail"]


def test_bad_print_requests_are_refused_and_change_nothing(demo: TestClient, po: Po) -> None:
    node = _receiving_node(demo)
    x, new = _relabelled(demo, po, node)
    before = demo.get(f"/api/v1/serials/{new}").json()
    for body in ({"reprint": "yes"}, {"copies": 2}, {"note": "x" * 301}, [1]):
        r = demo.post(f"/api/v1/serials/{new}/label", json=body)
        assert r.status_code == 422, (body, r.text)
    # A serial the hub did not issue (the old one) and one never seen: nothing to print.
    for serial in (x, "NEVER-SEEN-1"):
        r = demo.post(f"/api/v1/serials/{serial}/label", json={})
        assert r.status_code == 404, r.text
        assert "only the labels of serials it issued are printed from here" in r.text
    assert demo.get(f"/api/v1/serials/{new}").json() == before
    assert len(_label_changes(demo, node)) == 1


def _two_units_in_a_new_warehouse(demo: TestClient) -> tuple[str, str]:
    """A warehouse of this test (no node serves it yet) and serial X received there twice on
    the API (two receipts, ``A-X`` and ``B-X``). Returns (warehouse, X)."""
    tag = uuid.uuid4().hex[:6].upper()
    wh = f"WL{tag}"
    r = demo.post("/api/v1/warehouses", json={"code": wh, "name": f"标签仓 {tag}"})
    assert r.status_code == 201, r.text
    sku = f"T-{tag}"
    r = demo.put(
        f"/api/v1/skus/{sku}", json={"sku_code": sku, "name": "t", "barcodes": [f"68{tag}"]}
    )
    assert r.status_code < 300, r.text
    number = f"PO-L{tag}"
    r = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": number,
            "warehouse": wh,
            "lines": [{"sku_code": sku, "qty": 5, "unit_price": "1.00"}],
            "confirm": True,
        },
    )
    assert r.status_code == 201, r.text
    x = f"SNW-{tag}"
    for rid in (f"A-{x}", f"B-{x}"):
        r = demo.post(
            f"/api/v1/purchase-orders/{number}/receipts",
            json={
                "receipt_id": rid,
                "warehouse": wh,
                "lines": [{"sku_code": sku, "qty": 1, "serials": [x]}],
            },
        )
        assert r.status_code == 201, r.text
    return wh, x


def test_a_warehouse_without_a_receiving_node_says_so_until_one_serves_it(
    demo: TestClient,
) -> None:
    wh, x = _two_units_in_a_new_warehouse(demo)
    r = demo.post(
        f"/api/v1/serials/{x}/resolve", json={"receipt": f"B-{x}", "action": "new_serial"}
    )
    assert r.status_code == 200, r.text
    new = r.json()["new_serial"]
    trace = demo.get(f"/api/v1/serials/{new}").json()
    (label,) = trace["labels"]
    assert label["node_id"] is None and label["sends"] == 0 and label["printed_at"] is None
    assert trace["steps"][-1]["detail"] == (
        f"no receiving node serves warehouse {wh}: the label is not printed; print it again"
        " once one does"
    )
    r = demo.post(f"/api/v1/serials/{new}/label", json={})
    assert r.status_code == 409 and f"no receiving node serves warehouse {wh}" in r.text
    assert demo.get(f"/api/v1/serials/{new}").json() == trace
    # A receiving node is assigned: print again reaches it.
    node = _receiving_node(demo, wh)
    r = demo.post(f"/api/v1/serials/{new}/label", json={})
    assert r.status_code == 200, r.text
    assert r.json()["node_id"] == node and r.json()["sends"] == 1
    (ask,) = _label_changes(demo, node)
    assert ask["serial"] == new and ask["replaces"] == x and ask["receipt"] == f"B-{x}"


def test_the_label_prints_at_a_real_node_and_its_fact_comes_back_once(
    demo: TestClient, tmp_path: Path
) -> None:
    """Hub and node end to end without the broker: the node's store (its node.started says
    it receives), the hub's downlink applied to it as the sync agent does, the receiving
    runtime printing on the label printer simulator, and the node's outbox ingested back."""
    wh, x = _two_units_in_a_new_warehouse(demo)
    node = station(demo, wh)
    store = Store(tmp_path / "edge.db", node)
    store.start_epoch("test", "inbound")
    _ingest(demo, *_outbox(store))  # the hub learns the node receives
    r = demo.post(
        f"/api/v1/serials/{x}/resolve", json={"receipt": f"B-{x}", "action": "new_serial"}
    )
    assert r.status_code == 200, r.text
    new = r.json()["new_serial"]

    async def run() -> list[PrintedLabel]:
        async with LabelPrinterSimulator() as sim:
            cfg = EdgeConfig.model_validate(
                {
                    "node": {"id": node, "data_dir": str(tmp_path)},
                    "mqtt": {"port": free_port()},  # the uplink is down: nobody listens
                    "station": {"kind": "inbound", "name": node},
                    "receive": {
                        "warehouse": wh,
                        "printer_host": "127.0.0.1",
                        "printer_port": sim.port,
                    },
                }
            )
            rt = ReceiveRuntime(store, Recorder(tmp_path / "edge.db"), cfg)
            await rt.start()
            batch = downlink(demo, node)
            assert store.apply_down(batch) == len(batch.changes)
            rt.on_down_applied(batch)
            await until(lambda: len(sim.printed) == 1, what="the label")
            await until(lambda: len(_outbox(store)) == 2, what="the printed fact")
            await rt.stop()
            # Restarted: printed already, nothing more.
            rt = ReceiveRuntime(store, Recorder(tmp_path / "edge.db"), cfg)
            await rt.start()
            await asyncio.sleep(0.3)
            await rt.stop()
            return list(sim.printed)

    (label,) = asyncio.run(asyncio.wait_for(run(), 60))
    assert label.layout.barcodes()[-1] == new
    events = _outbox(store)
    _ingest(demo, *events)
    _ingest(demo, *events)  # the uplink's batch again: recorded once
    trace = demo.get(f"/api/v1/serials/{new}").json()
    (got,) = trace["labels"]
    assert got["printed_by"] == node and got["printer"] == "item-labels"
    assert [s["kind"] for s in trace["steps"]].count("label_printed") == 1
    store.close()


def _outbox(store: Store) -> list[Any]:
    rows = store.conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
    return [EVENT_ADAPTER.validate_json(r[0]) for r in rows]
