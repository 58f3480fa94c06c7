"""Bad input to purchase orders and receipts: a clear 409/422, and nothing changed."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.cloud.inbound.conftest import CASE, Po, receipt, state

PO = "/api/v1/purchase-orders"


def _po(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": "PO-BAD-1",
        "warehouse": "WH1",
        "lines": [{"sku_code": CASE, "qty": 5, "unit_price": "3.10"}],
    }
    body.update(over)
    return body


def _line(**over: Any) -> list[dict[str, Any]]:
    return [{"sku_code": CASE, "qty": 5, "unit_price": "3.10", **over}]


BAD_POS = [
    (_po(lines=_line(unit_price=12.5)), "JSON float"),
    (_po(lines=_line(unit_price="1,200.00")), "no commas"),
    (_po(lines=_line(unit_price="12.34567")), "at most 4 decimals"),
    (_po(lines=_line(unit_price="-1")), "no commas, signs"),
    (_po(lines=_line(unit_price="1e3")), "plain decimal"),
    (_po(lines=_line(qty=-3)), "greater than or equal to 1"),
    (_po(lines=_line(qty=0)), "greater than or equal to 1"),
    (_po(lines=_line(qty=1.5)), "valid integer"),
    (_po(lines=_line(qty="3")), "valid integer"),
    (_po(tolerance_pct="150"), "less than or equal to 100"),
    (_po(tolerance_pct="5.123"), "at most 2 decimals"),
    (_po(tolerance_pct=2.5), "JSON float"),
    (_po(lines=_line(sku_code="NO-SUCH-SKU")), "unknown SKU"),
    (_po(lines=_line() + _line()), "more than one line"),
]


def test_bad_purchase_orders_are_422_and_create_nothing(demo: TestClient) -> None:
    # One hub for every case (seeding one per case cost seconds each).
    before = demo.get(PO).json()
    for body, says in BAD_POS:
        r = demo.post(PO, json=body)
        assert r.status_code == 422, (body, r.text)
        assert says in r.text, (body, r.text)
        assert demo.get(PO).json() == before
        assert demo.get(f"{PO}/PO-BAD-1").status_code == 404


def test_a_po_number_is_taken_once_per_account(demo: TestClient, po: Po) -> None:
    before = demo.get(f"{PO}/{po.number}").json()
    r = demo.post(PO, json=_po(number=po.number))
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    assert demo.get(f"{PO}/{po.number}").json() == before


def _bad_lines(sku: str) -> list[tuple[list[dict[str, Any]], str]]:
    return [
        ([{"sku_code": sku, "qty": -1}], "greater than or equal to 1"),
        ([{"sku_code": sku, "qty": 2.5}], "valid integer"),
        ([{"sku_code": sku, "qty": 0}], "greater than or equal to 1"),
        ([{"sku_code": sku, "qty": "3"}], "valid integer"),
        ([{"sku_code": sku, "qty": 1, "verdict": "maybe"}], "'pass' or 'fail'"),
        ([{"sku_code": sku, "qty": 1, "verdict": "fail"}], "needs a reason"),
        ([{"sku_code": sku, "qty": 1, "bin": "NO-BIN"}], "no bin"),
    ]


def test_bad_receipt_lines_are_422_and_book_nothing(demo: TestClient, po: Po) -> None:
    url = f"{PO}/{po.number}/receipts"
    rid = f"{po.number}-BAD"
    before = state(demo, po.number, po.sku)
    for lines, says in _bad_lines(po.sku):
        r = demo.post(url, json=receipt(rid, *lines))
        assert r.status_code == 422, (lines, r.text)
        assert says in r.text, (lines, r.text)
        assert state(demo, po.number, po.sku) == before
    # The id was never booked: a good receipt under it books.
    r = demo.post(url, json=receipt(rid, {"sku_code": po.sku, "qty": 1}))
    assert r.status_code == 201 and r.json()["new"] is True


def test_beyond_tolerance_is_409_saying_how_much_is_allowed(demo: TestClient, po: Po) -> None:
    # 100 ordered at 5 %: 105 in all; 60 in, then 46 more is one too many.
    url = f"{PO}/{po.number}/receipts"
    ok = demo.post(url, json=receipt(f"{po.number}-1", {"sku_code": po.sku, "qty": 60}))
    assert ok.status_code == 201
    before = state(demo, po.number, po.sku)
    r = demo.post(
        url,
        json=receipt(
            f"{po.number}-2", {"sku_code": po.sku, "qty": 40}, {"sku_code": po.sku, "qty": 6}
        ),
    )
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"{po.sku} on purchase order {po.number}: ordered 100, received 60; the tolerance of"
        " 5% allows at most 45 more, this receipt brings 46"
    )
    assert state(demo, po.number, po.sku) == before
    ok = demo.post(url, json=receipt(f"{po.number}-3", {"sku_code": po.sku, "qty": 45}))
    assert ok.status_code == 201
    assert demo.get(f"{PO}/{po.number}").json()["status"] == "received"


def test_receipts_for_closed_cancelled_draft_or_foreign_goods_are_409(
    demo: TestClient, po: Po
) -> None:
    demo.post(PO, json=_po(number="PO-DRAFT"))
    demo.post(PO, json=_po(number="PO-CANCELLED", confirm=True))
    demo.post(f"{PO}/PO-CANCELLED/cancel", json={"reason": "ordered twice"})
    demo.post(PO, json=_po(number="PO-CLOSED", confirm=True))
    demo.post(f"{PO}/PO-CLOSED/close", json={"reason": "supplier out"})
    for number, says in (
        ("PO-DRAFT", "is a draft; confirm it"),
        ("PO-CANCELLED", "is cancelled; nothing more"),
        ("PO-CLOSED", "is closed; nothing more"),
    ):
        before = state(demo, number, CASE)
        r = demo.post(
            f"{PO}/{number}/receipts", json=receipt("R-" + number, {"sku_code": CASE, "qty": 1})
        )
        assert r.status_code == 409 and says in r.json()["detail"], r.text
        assert state(demo, number, CASE) == before
    before = state(demo, po.number, po.sku)
    r = demo.post(f"{PO}/{po.number}/receipts", json=receipt("R-X", {"sku_code": CASE, "qty": 1}))
    assert r.status_code == 409 and f"is not on purchase order {po.number}" in r.json()["detail"]
    assert state(demo, po.number, po.sku) == before
    # Closing twice, confirming a confirmed PO: refused with the state it is in.
    r = demo.post(f"{PO}/PO-CLOSED/close", json={"reason": "again"})
    assert r.status_code == 409 and "PO-CLOSED is closed" in r.json()["detail"]
    r = demo.post(f"{PO}/{po.number}/confirm")
    assert r.status_code == 409 and "only a draft is confirmed" in r.json()["detail"]


def test_a_po_received_at_the_wrong_warehouse_is_409(demo: TestClient, po: Po) -> None:
    before = state(demo, po.number, po.sku)
    r = demo.post(
        f"{PO}/{po.number}/receipts",
        json=receipt("R-BCP", {"sku_code": po.sku, "qty": 5}, warehouse="BCP"),
    )
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"purchase order {po.number} is to be received at warehouse WH1, not BCP;"
        " receive it there or transfer the goods afterwards"
    )
    assert state(demo, po.number, po.sku) == before


def test_writing_needs_stock_write(demo: TestClient, po: Po) -> None:
    from tests.cloud.conftest import account_id_of, make_account

    picker = make_account(demo, "demo", role="picker", account_id=account_id_of(demo))
    assert demo.get(f"{PO}/{po.number}", headers=picker).status_code == 200
    before = state(demo, po.number, po.sku)
    r = demo.post(
        f"{PO}/{po.number}/receipts",
        headers=picker,
        json=receipt("P-1", {"sku_code": po.sku, "qty": 1}),
    )
    assert r.status_code == 403 and "stock:write" in r.text
    assert state(demo, po.number, po.sku) == before
