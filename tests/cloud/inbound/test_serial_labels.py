"""The label of a serial the hub issued (issue 17; docs/inbound.md "The new serial's label"):
the lead's new serial is sent to the unit's receiving node as ``serial.label``; the node's
``serial.label_printed`` is recorded once (printed at, by which node) with a step in the
trace; "print again" re-sends an unprinted label, a printed one only as an explicit,
recorded re-print; a warehouse without a receiving node is told, and bad input changes
nothing. Both databases (the hub fixture's parameters)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Downlink
from protocol.messages import (
    NodeStarted,
    NodeStartedPayload,
    SerialLabelPrinted,
    SerialLabelPrintedPayload,
)
from tests.cloud.inbound.conftest import Po, station
from tests.cloud.inbound.test_serial_conflicts import _api_receipt
from tests.cloud.inbound.test_serial_trace import _base, _ingest, _receipt
from tests.cloud.inbound.test_transfer_ship import _db


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


def test_a_warehouse_without_a_receiving_node_says_so_until_one_serves_it(
    demo: TestClient,
) -> None:
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
