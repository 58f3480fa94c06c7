"""Serials seen twice across receipts and nodes (issue 17; docs/inbound.md "Seen twice"): a
PO receipt's serials are checked against every receipt of the hub, on the API and from a
node; the unit is booked all the same, both steps turn red, one task names both receipts
however often the fact comes; the lead gives one unit a new serial or declares a mislabel
(cloud/inbound/serial_conflicts.py), which the trace records and which closes the task.
Hostile input is refused whole: nothing booked, nothing seen."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.models import Task
from cloud.db.serials import SerialSighting
from tests.cloud.inbound.conftest import Po, station
from tests.cloud.inbound.test_serial_trace import _ingest, _receipt
from tests.cloud.inbound.test_transfer_ship import _db


def _api_receipt(demo: TestClient, po: Po, rid: str, serials: list[str], qty: int = 0) -> Any:
    return demo.post(
        f"/api/v1/purchase-orders/{po.number}/receipts",
        json={
            "receipt_id": rid,
            "warehouse": "WH1",
            "lines": [
                {"sku_code": po.sku, "qty": qty or len(serials), "bin": "A-02", "serials": serials}
            ],
        },
    )


def _conflict_tasks(demo: TestClient, serial: str) -> list[dict[str, Any]]:
    return [
        t
        for status in ("open", "done")
        for t in demo.get(
            "/api/v1/tasks", params={"status": status, "kind": "serial_conflict", "limit": 500}
        ).json()
        if t["kind"] == "serial_conflict" and serial in t["detail"]
    ]


def _received(demo: TestClient, po: Po) -> int:
    line = demo.get(f"/api/v1/purchase-orders/{po.number}").json()["lines"][0]
    return int(line["received"])


def test_a_serial_in_stock_received_again_on_another_po_receipt_is_booked_and_flagged(
    demo: TestClient, po: Po
) -> None:
    """An API receipt takes serial X; a node's receipt of the same PO takes X again (and a
    second unit): both booked, one task naming both receipts, however often the node's fact
    is resent; the lead gives the node's unit a new serial: the task closes, the trace says
    so, and X received again later is checked against the first unit only."""
    node = station(demo)
    x, y = f"SNX-{uuid.uuid4().hex[:8]}", f"SNY-{uuid.uuid4().hex[:8]}"
    r = _api_receipt(demo, po, f"API-{x}", [x])
    assert r.status_code == 201, r.text
    assert r.json()["lines"][0]["serials"] == [x]
    assert _conflict_tasks(demo, x) == []
    fact = _receipt(node, 1, po.number, f"RC-{x}", po.sku, [x, y])
    for _ in range(5):  # resent five times (the acks were lost): booked once, one task
        _ingest(demo, fact)
    assert _received(demo, po) == 3
    tasks = _conflict_tasks(demo, x)
    assert len(tasks) == 1, tasks
    said = tasks[0]["detail"]
    assert said.startswith(f"po.received from {node}: serial {x} is in stock already")
    assert f"from receipt API-{x} ({po.number}, warehouse WH1, the hub" in said
    assert f"receipt RC-{x} ({po.number}, warehouse WH1, {node}) received it again" in said
    trace = demo.get(f"/api/v1/serials/{x}").json()
    assert trace["conflicts"] == 2
    red = [(s["receipt"], s["node_id"]) for s in trace["steps"] if s["conflict"]]
    # Both in red (in the order of their times: the node's fact is two days old).
    assert set(red) == {(f"API-{x}", None), (f"RC-{x}", node)} and len(red) == 2
    assert demo.get(f"/api/v1/serials/{y}").json()["conflicts"] == 0

    # The lead relabels the node's unit.
    r = demo.post(
        f"/api/v1/serials/{x}/resolve",
        json={"receipt": f"RC-{x}", "action": "new_serial", "note": "贴新标签"},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    new = done["new_serial"]
    assert new.startswith("HUB-S") and done["tasks"] == [tasks[0]["id"]]
    (closed,) = _conflict_tasks(demo, x)
    assert closed["status"] == "done" and new in closed["resolution"]
    assert "贴新标签" in closed["resolution"]
    steps = demo.get(f"/api/v1/serials/{x}").json()["steps"]
    assert steps[-1]["kind"] == "relabelled" and new in steps[-1]["detail"]
    kinds = [s["kind"] for s in demo.get(f"/api/v1/serials/{new}").json()["steps"]]
    # Its label sent to a node to print (test_serial_labels.py; here: none that prints).
    assert kinds == ["received", "put_away", "issued", "label_sent"]
    # Resolved once: a second decision on it is refused and changes nothing.
    before = demo.get(f"/api/v1/serials/{x}").json()
    again = demo.post(
        f"/api/v1/serials/{x}/resolve", json={"receipt": f"RC-{x}", "action": "mislabel"}
    )
    assert again.status_code == 409 and "no open conflict" in again.text
    assert demo.get(f"/api/v1/serials/{x}").json() == before
    assert _received(demo, po) == 3  # stock untouched by the decision


def test_a_mislabel_declared_on_the_first_receipt(demo: TestClient, po: Po) -> None:
    """Two API receipts of one serial (serials are checked across receipts, not only within
    one): the first sighting declared a mislabel; the task closes; the serial is then the
    second unit's, and a third receipt of it is flagged against that one."""
    x = f"SNM-{uuid.uuid4().hex[:8]}"
    assert _api_receipt(demo, po, f"A1-{x}", [x]).status_code == 201
    assert _api_receipt(demo, po, f"A2-{x}", [x]).status_code == 201
    assert _received(demo, po) == 2
    (task,) = _conflict_tasks(demo, x)
    assert task["detail"].startswith(f"receipt from user:admin: serial {x} is in stock already")
    r = demo.post(f"/api/v1/serials/{x}/resolve", json={"receipt": f"A1-{x}", "action": "mislabel"})
    assert r.status_code == 200, r.text
    assert r.json()["new_serial"] is None
    (task,) = _conflict_tasks(demo, x)
    assert task["status"] == "done"
    steps = demo.get(f"/api/v1/serials/{x}").json()["steps"]
    assert steps[-1]["kind"] == "mislabel" and f"A1-{x}" in steps[-1]["detail"]
    assert _api_receipt(demo, po, f"A3-{x}", [x]).status_code == 201
    (third,) = [t for t in _conflict_tasks(demo, x) if t["status"] == "open"]
    assert f"from receipt A2-{x}" in third["detail"] and f"A1-{x}" not in third["detail"]


def _nothing_changed(demo: TestClient, po: Po, prefix: str) -> None:
    """No receipt, nothing received, no sighting of a serial beginning with ``prefix``
    (clean text: a NUL or a surrogate cannot even be looked up)."""
    assert _received(demo, po) == 0
    assert demo.get(f"/api/v1/purchase-orders/{po.number}/receipts").json() == []
    with _db(demo) as s:
        n = s.execute(
            select(func.count())
            .select_from(SerialSighting)
            .where(SerialSighting.serial.startswith(prefix))
        ).scalar_one()
    assert n == 0


def test_hostile_serials_are_refused_whole(demo: TestClient, po: Po) -> None:
    """NUL, a lone surrogate, a 10 KB serial, more serials than units, one serial twice in a
    receipt: 422 naming why; nothing booked, nothing seen."""
    tag = uuid.uuid4().hex[:8]
    for bad in (f"HN{tag}\x00X", f"HL{tag}" + "A" * 10_240):
        r = _api_receipt(demo, po, f"H-{uuid.uuid4().hex[:6]}", [bad])
        assert r.status_code == 422, r.text
        _nothing_changed(demo, po, bad[:10])
    body = {
        "receipt_id": "H-SUR",
        "warehouse": "WH1",
        "lines": [{"sku_code": po.sku, "qty": 1, "serials": [f"HS{tag}SURROGATE"]}],
    }
    raw = json.dumps(body).replace("SURROGATE", "\\ud800")  # a lone surrogate, escaped
    r = demo.post(
        f"/api/v1/purchase-orders/{po.number}/receipts",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    _nothing_changed(demo, po, f"HS{tag}")
    r = _api_receipt(demo, po, "H-MANY", [f"HM{tag}-1", f"HM{tag}-2"], qty=1)
    assert r.status_code == 422 and "2 serials for 1 units" in r.text
    _nothing_changed(demo, po, f"HM{tag}")
    r = _api_receipt(demo, po, "H-TWICE", [f"HT{tag}", f"HT{tag}"])
    assert r.status_code == 422 and f"HT{tag} appear twice in this receipt" in r.text
    _nothing_changed(demo, po, f"HT{tag}")


def test_a_resolution_of_nothing_is_refused(demo: TestClient, po: Po) -> None:
    x = f"SNR-{uuid.uuid4().hex[:8]}"
    assert _api_receipt(demo, po, f"R1-{x}", [x]).status_code == 201
    url = f"/api/v1/serials/{x}/resolve"
    r = demo.post(
        "/api/v1/serials/NEVER-SEEN-9/resolve", json={"receipt": "R", "action": "mislabel"}
    )
    assert r.status_code == 404 and "NEVER-SEEN-9 was never seen" in r.text
    r = demo.post(url, json={"receipt": "R-NONE", "action": "mislabel"})
    assert r.status_code == 404 and "was not received in receipt R-NONE" in r.text
    r = demo.post(url, json={"receipt": f"R1-{x}", "action": "mislabel"})
    assert r.status_code == 409 and "only one with the serial" in r.text
    for body in (
        {"receipt": f"R1-{x}", "action": "burn"},
        {"receipt": "R\x00", "action": "mislabel"},
        {"receipt": f"R1-{x}", "action": "mislabel", "note": "n" * 10_240},
    ):
        assert demo.post(url, json=body).status_code == 422
    with _db(demo) as s:
        kinds = s.execute(select(SerialSighting.kind).where(SerialSighting.serial == x)).scalars()
        assert sorted(kinds) == ["put_away", "received"]
        assert (
            s.execute(
                select(func.count()).select_from(Task).where(Task.detail.contains(x))
            ).scalar_one()
            == 0
        )


def test_a_cancelled_po_receipt_no_longer_holds_its_serial(demo: TestClient, po: Po) -> None:
    """取消入库 of a PO receipt takes its unit out of stock: the serial received again is
    not flagged; while the receipt stood, it was."""
    x = f"SNC-{uuid.uuid4().hex[:8]}"
    first = _api_receipt(demo, po, f"C1-{x}", [x])
    assert first.status_code == 201, first.text
    (mid,) = first.json()["movement_ids"]
    r = demo.post(f"/api/v1/stock/movements/{mid}/cancel-receipt", json={"reason": "wrong PO"})
    assert r.status_code == 201, r.text
    assert _api_receipt(demo, po, f"C2-{x}", [x]).status_code == 201
    assert _conflict_tasks(demo, x) == []
    assert demo.get(f"/api/v1/serials/{x}").json()["conflicts"] == 0
    # The second receipt still stands: a third unit is flagged against it alone.
    assert _api_receipt(demo, po, f"C3-{x}", [x]).status_code == 201
    (task,) = _conflict_tasks(demo, x)
    assert f"from receipt C2-{x}" in task["detail"] and f"C1-{x}" not in task["detail"]


def test_a_po_receipt_cancelled_on_one_line_no_longer_holds_that_lines_serial(
    demo: TestClient, po: Po
) -> None:
    """Two lines of one SKU in one receipt, 取消入库 on the second only: its unit left
    stock, so its serial received again is not flagged; the first line's unit is still
    in stock, so its serial received again is (before, the receipt counted every unit of the
    SKU until all its lines were cancelled)."""
    tag = uuid.uuid4().hex[:8]
    kept, taken = f"SNL-{tag}-1", f"SNL-{tag}-2"
    first = demo.post(
        f"/api/v1/purchase-orders/{po.number}/receipts",
        json={
            "receipt_id": f"L1-{tag}",
            "warehouse": "WH1",
            "lines": [
                {"sku_code": po.sku, "qty": 1, "bin": "A-02", "serials": [kept]},
                {"sku_code": po.sku, "qty": 1, "bin": "A-02", "serials": [taken]},
            ],
        },
    )
    assert first.status_code == 201, first.text
    _, mid = first.json()["movement_ids"]
    r = demo.post(f"/api/v1/stock/movements/{mid}/cancel-receipt", json={"reason": "wrong PO"})
    assert r.status_code == 201, r.text
    assert _received(demo, po) == 1
    assert _api_receipt(demo, po, f"L2-{tag}", [taken]).status_code == 201
    assert _conflict_tasks(demo, taken) == []
    assert demo.get(f"/api/v1/serials/{taken}").json()["conflicts"] == 0
    assert _api_receipt(demo, po, f"L3-{tag}", [kept]).status_code == 201
    (task,) = _conflict_tasks(demo, kept)
    assert f"from receipt L1-{tag}" in task["detail"]
    assert demo.get(f"/api/v1/serials/{kept}").json()["conflicts"] == 2


def _open_pairs(demo: TestClient, serial: str) -> set[tuple[str, str]]:
    """The receipts each open task of ``serial`` names (the first unit's, the new one's)."""
    out = set()
    for t in _conflict_tasks(demo, serial):
        if t["status"] == "open":
            d = t["detail"]
            first = d.split("from receipt ", 1)[1].split(" ", 1)[0]
            again = d.split(") and receipt ", 1)[1].split(" ", 1)[0]
            out.add((first, again))
    return out


def test_a_third_unit_is_flagged_against_both_and_a_decision_closes_only_its_pairs(
    demo: TestClient, po: Po
) -> None:
    """Three receipts of one serial: the third clashes with both units in stock (a task per
    pair); a decision on the second closes the two pairs naming it and leaves the first and
    the third flagged until a decision on one of them."""
    x = f"SN3-{uuid.uuid4().hex[:8]}"
    a1, a2, a3 = (f"{n}-{x}" for n in ("T1", "T2", "T3"))
    for rid in (a1, a2, a3):
        assert _api_receipt(demo, po, rid, [x]).status_code == 201
    assert _open_pairs(demo, x) == {(a1, a2), (a1, a3), (a2, a3)}
    assert demo.get(f"/api/v1/serials/{x}").json()["conflicts"] == 3
    r = demo.post(f"/api/v1/serials/{x}/resolve", json={"receipt": a2, "action": "mislabel"})
    assert r.status_code == 200, r.text
    assert len(r.json()["tasks"]) == 2
    assert _open_pairs(demo, x) == {(a1, a3)}
    r = demo.post(f"/api/v1/serials/{x}/resolve", json={"receipt": a3, "action": "new_serial"})
    assert r.status_code == 200, r.text
    assert _open_pairs(demo, x) == set()
    # Now one unit carries the serial: a fourth is flagged against the first alone.
    assert _api_receipt(demo, po, f"T4-{x}", [x]).status_code == 201
    assert _open_pairs(demo, x) == {(a1, f"T4-{x}")}
