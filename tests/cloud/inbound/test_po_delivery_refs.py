"""A PO's delivery references (ASN numbers, courier waybills) on the hub: entered with the
PO or replaced later, checked (trimmed, at most 32, no repeats), and sent to the
warehouse's nodes in ``po.release`` so the receiving station opens the PO by one
(docs/inbound.md "ASN scan"). Bad references are refused whole and nothing is stored."""

from __future__ import annotations

from fastapi.testclient import TestClient

from protocol.messages import PoRelease
from tests.cloud.inbound.conftest import CASE
from tests.cloud.inbound.test_purchase_orders import _releases

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
