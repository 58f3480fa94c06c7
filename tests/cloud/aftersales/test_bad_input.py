"""Bad input to after-sales requests: a clear 409/422 with a sentence, and nothing changed
after it (the request list, refunds, the ledger, the stock level, the orders)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.cloud.aftersales.conftest import Shipped, new_sku, ok, order, state

AS = "/api/v1/aftersales"


def _refused(
    demo: TestClient, s: Shipped, method: str, path: str, body: Any, code: int, says: str
) -> None:
    before = state(demo, s.order_no, s.sku)
    r = demo.request(method, path, json=body)
    assert r.status_code == code, (body, r.status_code, r.text)
    assert says in r.text, (says, r.text)
    assert state(demo, s.order_no, s.sku) == before, body


def _req(s: Shipped, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_no": s.order_no,
        "kind": "return",
        "lines": [{"order_line_id": "1", "qty": 1}],
    }
    body.update(over)
    return body


def test_a_return_for_an_order_never_shipped_is_refused(demo: TestClient, shipped: Shipped) -> None:
    unshipped = order(
        demo, [{"line_id": "1", "sku_code": shipped.sku, "qty": 1, "price_cents": 100}], ship=False
    )
    for kind in ("return", "exchange", "refund_only"):
        body = {"order_no": unshipped, "kind": kind, "lines": [{"order_line_id": "1", "qty": 1}]}
        _refused(demo, shipped, "POST", AS, body, 409, "not shipped; nothing of it can come back")
        assert ok(demo.get(AS, params={"order_no": unshipped})) == []
    _refused(demo, shipped, "POST", AS, _req(shipped, order_no="NO-SUCH-ORDER"), 404, "no order")


def test_quantities_beyond_what_shipped_are_refused(demo: TestClient, shipped: Shipped) -> None:
    _refused(
        demo,
        shipped,
        "POST",
        AS,
        _req(shipped, lines=[{"order_line_id": "1", "qty": 4}]),
        409,
        "shipped 3; 0 already asked back (none), so at most 3 more, this request asks 4",
    )
    ok(demo.post(AS, json=_req(shipped, lines=[{"order_line_id": "1", "qty": 2}])))
    _refused(
        demo,
        shipped,
        "POST",
        AS,
        _req(shipped, lines=[{"order_line_id": "1", "qty": 2}]),
        409,
        f"2 already asked back (AS-{shipped.order_no}-1), so at most 1 more",
    )


def test_malformed_requests_are_422(demo: TestClient, shipped: Shipped) -> None:
    cases = [
        (_req(shipped, kind="swap"), "return"),
        (_req(shipped, lines=[]), "at least 1"),
        (_req(shipped, lines=[{"order_line_id": "1", "qty": 0}]), "greater than or equal to 1"),
        (_req(shipped, lines=[{"order_line_id": "1", "qty": 1.5}]), "valid integer"),
        (_req(shipped, lines=[{"order_line_id": "1", "qty": "1"}]), "valid integer"),
        (_req(shipped, lines=[{"order_line_id": "9", "qty": 1}]), "has no line '9'"),
        (_req(shipped, lines=[{"order_line_id": "1", "qty": 1}] * 2), "at most once"),
        (
            _req(
                shipped,
                lines=[{"order_line_id": "1", "qty": 1, "exchange_sku_code": shipped.other}],
            ),
            "exchange only",
        ),
        (
            _req(
                shipped,
                kind="exchange",
                lines=[{"order_line_id": "1", "qty": 1, "exchange_sku_code": "NO-SKU"}],
            ),
            "unknown SKU",
        ),
    ]
    for body, says in cases:
        _refused(demo, shipped, "POST", AS, body, 422, says)


def test_the_audit_refuses_what_does_not_fit_the_state(demo: TestClient, shipped: Shipped) -> None:
    no = ok(demo.post(AS, json=_req(shipped)))["number"]
    # receiving before the approval
    rec = {
        "receipt_id": f"RR-{no}",
        "warehouse": "WH1",
        "lines": [{"line_no": 1, "sku_code": shipped.sku, "sellable": 1}],
    }
    _refused(demo, shipped, "POST", f"{AS}/{no}/receive", rec, 409, "not approved yet")
    _refused(
        demo, shipped, "POST", f"{AS}/{no}/close", {}, 409, "closed once its goods are received"
    )
    _refused(demo, shipped, "POST", f"{AS}/{no}/reject", {"reason": "  "}, 422, "needs a reason")
    _refused(demo, shipped, "POST", f"{AS}/{no}/reject", {}, 422, "Field required")
    ok(demo.post(f"{AS}/{no}/approve", json={}))
    _refused(
        demo, shipped, "POST", f"{AS}/{no}/approve", {}, 409, "is approved; it cannot be approved"
    )
    taken = {**_req(shipped), "number": no}
    _refused(demo, shipped, "POST", AS, taken, 409, "exists already")


def test_bad_receipts_are_refused_and_book_nothing(demo: TestClient, shipped: Shipped) -> None:
    no = ok(demo.post(AS, json=_req(shipped, lines=[{"order_line_id": "1", "qty": 2}])))["number"]
    ok(demo.post(f"{AS}/{no}/approve", json={}))

    def rec(*lines: dict[str, Any], warehouse: str = "WH1") -> dict[str, Any]:
        return {"receipt_id": f"RR-{no}", "warehouse": warehouse, "lines": list(lines)}

    line = {"line_no": 1, "sku_code": shipped.sku}
    cases = [
        (rec({**line, "sellable": 3}), 422, "the QC accounts for 3"),
        (rec({**line, "sellable": 1}), 422, "the QC accounts for 1"),
        (rec({**line, "damaged": 2}), 422, "need a reason"),
        (
            rec({**line, "sellable": -1, "damaged": 3, "reason": "x"}),
            422,
            "greater than or equal to 0",
        ),
        (rec({**line, "sellable": 2.0}), 422, "valid integer"),
        (rec({**line, "line_no": 2, "sellable": 2}), 422, "has no line 2"),
        (
            rec({**line, "sku_code": shipped.other, "sellable": 2}),
            409,
            f"is {shipped.sku}, not {shipped.other}",
        ),
        (
            rec({**line, "sellable": 2}, warehouse="DMG"),
            409,
            "comes back to warehouse WH1, not DMG",
        ),
        (rec({**line, "sellable": 2}, {**line, "sellable": 2}), 422, "appears twice"),
    ]
    for body, code, says in cases:
        _refused(demo, shipped, "POST", f"{AS}/{no}/receive", body, code, says)
    assert ok(demo.get(f"{AS}/{no}"))["status"] == "approved"


def test_a_return_received_twice_books_once_and_other_content_is_409(
    demo: TestClient, shipped: Shipped
) -> None:
    no = ok(demo.post(AS, json=_req(shipped, lines=[{"order_line_id": "1", "qty": 2}])))["number"]
    ok(demo.post(f"{AS}/{no}/approve", json={}))
    body = {
        "receipt_id": f"RR-{no}",
        "warehouse": "WH1",
        "lines": [{"line_no": 1, "sku_code": shipped.sku, "sellable": 2}],
    }
    first = demo.post(f"{AS}/{no}/receive", json=body)
    assert first.status_code == 201, first.text
    after = state(demo, shipped.order_no, shipped.sku)
    again = demo.post(f"{AS}/{no}/receive", json=body)
    assert again.status_code == 200 and again.json()["new"] is False, again.text
    assert state(demo, shipped.order_no, shipped.sku) == after
    other = {
        **body,
        "lines": [{"line_no": 1, "sku_code": shipped.sku, "sellable": 1, "missing": 1}],
    }
    _refused(
        demo, shipped, "POST", f"{AS}/{no}/receive", other, 409, "was received already (receipt RR-"
    )
    _refused(
        demo,
        shipped,
        "POST",
        f"{AS}/{no}/receive",
        {**body, "receipt_id": "RR-OTHER"},
        409,
        "was received already",
    )
    # the receipt id of one request is not booked against another
    sku2, _ = new_sku(demo)
    o2 = order(demo, [{"line_id": "1", "sku_code": sku2, "qty": 1, "price_cents": 100}])
    n2 = ok(
        demo.post(
            AS, json={"order_no": o2, "kind": "return", "lines": [{"order_line_id": "1", "qty": 1}]}
        )
    )["number"]
    ok(demo.post(f"{AS}/{n2}/approve", json={}))
    reuse = {
        "receipt_id": f"RR-{no}",
        "warehouse": "WH1",
        "lines": [{"line_no": 1, "sku_code": sku2, "sellable": 1}],
    }
    _refused(
        demo,
        shipped,
        "POST",
        f"{AS}/{n2}/receive",
        reuse,
        409,
        f"was booked for after-sales request {no}",
    )
    assert ok(demo.get(f"{AS}/{n2}"))["status"] == "approved"
    # a rejected request is not received; a received one is not rejected
    _refused(
        demo,
        shipped,
        "POST",
        f"{AS}/{no}/reject",
        {"reason": "late"},
        409,
        "is received; it cannot be rejected",
    )
