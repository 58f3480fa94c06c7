"""Purchase orders as documents: states, the in-transit column, receipts with QC, and the
release to the warehouse's nodes (docs/inbound.md)."""

from __future__ import annotations

import threading
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Downlink
from protocol.messages import PoRelease
from tests.cloud.inbound.conftest import CASE, LEATHER, NODE, Po, f10, receipt, state, station


def _releases(demo: TestClient, number: str, node: str = NODE) -> list[dict]:  # type: ignore[type-arg]
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        rows = s.execute(
            select(Downlink.payload)
            .where(Downlink.node_id == node, Downlink.type == "po.release")
            .order_by(Downlink.seq)
        ).scalars()
        return [p for p in rows if p["po_number"] == number]


def test_a_po_goes_from_draft_to_received_and_the_in_transit_column_follows(
    demo: TestClient,
) -> None:
    assert (
        demo.post(
            "/api/v1/suppliers", json={"code": "SZ-CASE", "name": "深圳壳厂", "contact": "王"}
        ).status_code
        == 201
    )
    before = f10(demo, CASE)["inbound"]
    r = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": "PO-2026-100",
            "warehouse": "WH1",
            "supplier": "SZ-CASE",
            "eta": "2026-12-20",
            "tolerance_pct": "10",
            "lines": [
                {"sku_code": CASE, "qty": 20, "unit_price": "12.3456"},
                {"sku_code": LEATHER, "qty": 10, "unit_price": 40},
            ],
        },
    )
    assert r.status_code == 201, r.text
    po = r.json()
    assert po["status"] == "draft" and po["total"] == "646.91"
    assert Decimal(po["lines"][0]["unit_price"]) == Decimal("12.3456")
    # A draft is not ordered yet: nothing in transit, nothing sent to the nodes.
    assert f10(demo, CASE)["inbound"] == before
    assert _releases(demo, "PO-2026-100") == []

    assert demo.post("/api/v1/purchase-orders/PO-2026-100/confirm").json()["status"] == "confirmed"
    row = f10(demo, CASE)
    assert row["inbound"] == before + 20
    assert {"po_number": "PO-2026-100", "open": 20, "supplier": "深圳壳厂"}.items() <= next(
        p for p in row["purchases"] if p["po_number"] == "PO-2026-100"
    ).items()
    sent = _releases(demo, "PO-2026-100")
    assert sent[-1]["status"] == "open" and sent[-1]["tolerance_pct"] == "10"
    line = next(ln for ln in sent[-1]["lines"] if ln["sku_code"] == CASE)
    assert line["expected"] == 20 and line["allowed"] == 22 and line["barcodes"]

    listed = demo.get(
        "/api/v1/purchase-orders", params={"supplier": "SZ-CASE", "status": "confirmed"}
    ).json()
    assert [p["number"] for p in listed] == ["PO-2026-100"]
    assert [
        p["number"] for p in demo.get("/api/v1/purchase-orders", params={"sku_code": CASE}).json()
    ] == ["PO-2026-100"]
    assert "PO-2026-100" not in [
        p["number"] for p in demo.get("/api/v1/purchase-orders", params={"status": "draft"}).json()
    ]

    stock0 = f10(demo, CASE)
    r = demo.post(
        "/api/v1/purchase-orders/PO-2026-100/receipts",
        json=receipt(
            "T1-RC-1",
            {"sku_code": CASE, "qty": 15, "verdict": "pass"},
            {"sku_code": CASE, "qty": 2, "verdict": "fail", "reason": "cracked"},
        ),
    )
    assert r.status_code == 201, r.text
    assert r.json()["new"] is True and len(r.json()["movement_ids"]) == 2
    po = demo.get("/api/v1/purchase-orders/PO-2026-100").json()
    assert po["status"] == "partially_received"
    case = next(ln for ln in po["lines"] if ln["sku_code"] == CASE)
    assert (case["received"], case["rejected"], case["open"]) == (17, 2, 3)
    stock1 = f10(demo, CASE)
    # QC pass is sellable, QC fail lands in the damaged bucket; 3 still in transit.
    assert stock1["on_hand"] == stock0["on_hand"] + 15
    assert stock1["damaged"] == stock0["damaged"] + 2
    assert stock1["inbound"] == stock0["inbound"] - 17
    moves = demo.get("/api/v1/stock/movements", params={"document": "po:PO-2026-100"}).json()
    assert sorted((m["bucket"], m["qty_delta"]) for m in moves) == [
        ("damaged", 2),
        ("sellable", 15),
    ]
    assert _releases(demo, "PO-2026-100")[-1]["lines"][0]["allowed"] == 5

    # 9 of 10 covers is within the 10 % tolerance: that line is complete; 3 more cases
    # complete the PO.
    for rid, sku, qty in (("T1-RC-2", LEATHER, 9), ("T1-RC-3", CASE, 3)):
        r = demo.post(
            "/api/v1/purchase-orders/PO-2026-100/receipts",
            json=receipt(rid, {"sku_code": sku, "qty": qty}),
        )
        assert r.status_code == 201, r.text
    po = demo.get("/api/v1/purchase-orders/PO-2026-100").json()
    assert po["status"] == "received"
    assert all(not ln["in_transit"] and ln["open"] == 0 for ln in po["lines"])
    assert f10(demo, CASE)["inbound"] == before
    assert _releases(demo, "PO-2026-100")[-1]["status"] == "received"
    assert [
        x["receipt_id"] for x in demo.get("/api/v1/purchase-orders/PO-2026-100/receipts").json()
    ] == ["T1-RC-1", "T1-RC-2", "T1-RC-3"]


def test_the_same_receipt_twice_books_once(demo: TestClient, po: Po) -> None:
    url = f"/api/v1/purchase-orders/{po.number}/receipts"
    body = receipt(f"{po.number}-DOCK-7", {"sku_code": po.sku, "qty": 30, "bin": "A-01"})
    first = demo.post(url, json=body)
    assert first.status_code == 201, first.text
    after_first = state(demo, po.number, po.sku)
    again = demo.post(url, json=body)
    assert again.status_code == 200 and again.json()["new"] is False
    assert again.json()["movement_ids"] == first.json()["movement_ids"]
    assert state(demo, po.number, po.sku) == after_first
    # The same id with other lines is refused, not booked as a second receipt.
    other = receipt(f"{po.number}-DOCK-7", {"sku_code": po.sku, "qty": 31})
    r = demo.post(url, json=other)
    assert r.status_code == 409 and "already booked" in r.json()["detail"]
    assert state(demo, po.number, po.sku) == after_first
    assert after_first["f10"]["inbound"] == 70 and after_first["f10"]["on_hand"] == 30


def test_close_ends_what_is_in_transit_and_cancel_needs_nothing_received(
    demo: TestClient, po: Po
) -> None:
    base = f"/api/v1/purchase-orders/{po.number}"
    assert (
        demo.post(
            f"{base}/receipts", json=receipt(f"{po.number}-R1", {"sku_code": po.sku, "qty": 40})
        ).status_code
        == 201
    )
    r = demo.post(f"{base}/cancel", json={"reason": "too late"})
    assert r.status_code == 409 and "close it instead" in r.json()["detail"]
    assert f10(demo, po.sku)["inbound"] == 60
    r = demo.post(f"{base}/close", json={"reason": "supplier out"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["status_reason"] == "supplier out"
    assert f10(demo, po.sku)["inbound"] == 0
    # What arrived stays booked.
    assert demo.get(base).json()["lines"][0]["received"] == 40
    new = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": f"{po.number}-B",
            "warehouse": "WH1",
            "lines": [{"sku_code": po.sku, "qty": 5, "unit_price": "3.10"}],
            "confirm": True,
        },
    ).json()
    assert new["status"] == "confirmed" and f10(demo, po.sku)["inbound"] == 5
    r = demo.post(f"{base}-B/cancel", json={"reason": "ordered twice"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert f10(demo, po.sku)["inbound"] == 0 and f10(demo, po.sku)["purchases"] == []


def test_cancelling_a_po_receipt_reopens_the_line(demo: TestClient, po: Po) -> None:
    base = f"/api/v1/purchase-orders/{po.number}"
    r = demo.post(
        f"{base}/receipts", json=receipt(f"{po.number}-R1", {"sku_code": po.sku, "qty": 100})
    )
    assert demo.get(base).json()["status"] == "received"
    assert f10(demo, po.sku)["inbound"] == 0
    mid = r.json()["movement_ids"][0]
    r = demo.post(f"/api/v1/stock/movements/{mid}/cancel-receipt", json={"reason": "wrong PO"})
    assert r.status_code == 201, r.text
    got = demo.get(base).json()
    assert got["status"] == "confirmed" and got["lines"][0]["received"] == 0
    assert f10(demo, po.sku)["inbound"] == 100 and f10(demo, po.sku)["on_hand"] == 0


def test_a_node_assigned_later_gets_the_open_pos_of_its_warehouse(demo: TestClient, po: Po) -> None:
    demo.post(
        f"/api/v1/purchase-orders/{po.number}/receipts",
        json=receipt(f"{po.number}-R1", {"sku_code": po.sku, "qty": 10}),
    )
    node = station(demo)
    [sent] = _releases(demo, po.number, node)
    assert sent["status"] == "open" and sent["warehouse"] == "WH1"
    assert sent["lines"] == [
        {
            "sku_code": po.sku,
            "name": f"测试 {po.sku[2:]}",
            "barcodes": [f"69{po.sku[2:]}"],
            "ordered": 100,
            "received": 10,
            "expected": 90,
            "allowed": 95,
        }
    ]
    demo.post(f"/api/v1/purchase-orders/{po.number}/close", json={"reason": "done"})
    assert _releases(demo, po.number, node)[-1]["status"] == "closed"
    assert station(demo) and not _releases(demo, po.number, station(demo))


def test_the_same_receipt_sent_at_once_from_four_threads_books_once(
    demo: TestClient, po: Po
) -> None:
    url = f"/api/v1/purchase-orders/{po.number}/receipts"
    body = receipt(f"{po.number}-RACE", {"sku_code": po.sku, "qty": 7})
    start = threading.Barrier(4)
    codes: list[int] = []

    def send() -> None:
        start.wait()
        codes.append(demo.post(url, json=body).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The PO row is locked first, so the later ones find the receipt booked.
    assert sorted(codes) == [200, 200, 200, 201]
    assert f10(demo, po.sku)["on_hand"] == 7
    assert demo.get(f"/api/v1/purchase-orders/{po.number}").json()["lines"][0]["received"] == 7


# Delivery references (ASN numbers, courier waybills) on the hub: entered with the PO or
# replaced later, checked (trimmed, at most 32, no repeats), and sent to the warehouse's
# nodes in ``po.release`` so the receiving station opens the PO by one (docs/inbound.md
# "ASN scan"). Bad references are refused whole and nothing is stored.
WAYBILL = "SF1400000017"


def test_a_po_with_a_waybill_is_released_with_it_and_bad_refs_store_nothing(
    demo: TestClient,
) -> None:
    def po(number: str, refs: object) -> dict[str, object]:
        return {
            "number": number,
            "warehouse": "WH1",
            "lines": [{"sku_code": CASE, "qty": 5, "unit_price": "9.90"}],
            "delivery_refs": refs,
            "confirm": True,
        }

    # Refused at creation: nothing of the PO is stored, nothing is sent.
    bad: list[tuple[object, str]] = [
        ([WAYBILL, f" {WAYBILL} "], "given twice"),
        ([f"ASN-{n}" for n in range(33)], "at most 32 delivery references, not 33"),
        (["ASN-1", "   "], "is empty"),
        (["ASN\t1"], "control character"),
        (["X" * 129], "longer than 128"),
    ]
    for refs, why in bad:
        r = demo.post("/api/v1/purchase-orders", json=po("PO-REF-BAD", refs))
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "delivery_refs"]
        assert why in r.json()["detail"][0]["msg"], r.text
    assert demo.get("/api/v1/purchase-orders/PO-REF-BAD").status_code == 404
    assert _releases(demo, "PO-REF-BAD") == []

    r = demo.post("/api/v1/purchase-orders", json=po("PO-REF-1", [f"  {WAYBILL} ", "ASN-DG-7"]))
    assert r.status_code == 201, r.text
    assert r.json()["delivery_refs"] == [WAYBILL, "ASN-DG-7"]  # trimmed, in the order given
    sent = _releases(demo, "PO-REF-1")
    assert sent[-1]["delivery_refs"] == [WAYBILL, "ASN-DG-7"]
    assert PoRelease.model_validate(sent[-1]).delivery_refs == [WAYBILL, "ASN-DG-7"]

    # Replacing them: a bad list changes nothing and sends nothing; a good one is released.
    for refs, why in bad:
        r = demo.put("/api/v1/purchase-orders/PO-REF-1/delivery-refs", json={"delivery_refs": refs})
        assert r.status_code == 422 and why in r.text, r.text
    assert demo.get("/api/v1/purchase-orders/PO-REF-1").json()["delivery_refs"] == [
        WAYBILL,
        "ASN-DG-7",
    ]
    assert len(_releases(demo, "PO-REF-1")) == len(sent)
    refs = [f"SF{n:010d}" for n in range(32)]
    r = demo.put("/api/v1/purchase-orders/PO-REF-1/delivery-refs", json={"delivery_refs": refs})
    assert r.status_code == 200 and r.json()["delivery_refs"] == refs, r.text
    assert _releases(demo, "PO-REF-1")[-1]["delivery_refs"] == refs

    # A closed PO expects nothing more: its references are no longer changed (409).
    assert (
        demo.post(
            "/api/v1/purchase-orders/PO-REF-1/close", json={"reason": "供应商停产"}
        ).status_code
        == 200
    )
    r = demo.put("/api/v1/purchase-orders/PO-REF-1/delivery-refs", json={"delivery_refs": []})
    assert r.status_code == 409 and "closed" in r.text
    assert demo.get("/api/v1/purchase-orders/PO-REF-1").json()["delivery_refs"] == refs
    r = demo.put("/api/v1/purchase-orders/NO-SUCH-PO/delivery-refs", json={"delivery_refs": []})
    assert r.status_code == 404
