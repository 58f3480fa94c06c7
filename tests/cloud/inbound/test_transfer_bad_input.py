"""Bad input to transfers: a clear 409/422 with a sentence, and nothing changed after it
(docs/inbound.md "Transfers", bad input table)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.cloud.inbound.transfer_helpers import (
    TR,
    new_transfer,
    receipt,
    sku_with_stock,
    state,
    wh2,
)


def _body(sku: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": "TR-BAD-1",
        "from_warehouse": "WH1",
        "to_warehouse": "WH2",
        "lines": [{"sku_code": sku, "qty": 2}],
    }
    body.update(over)
    return body


def test_bad_transfers_are_refused_and_create_nothing(demo: TestClient) -> None:
    wh2(demo)
    sku = sku_with_stock(demo, 5)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (_body(sku, to_warehouse="NOWHERE"), 422, "no warehouse 'NOWHERE'"),
        (_body(sku, from_warehouse="NOWHERE"), 422, "no warehouse 'NOWHERE'"),
        (_body(sku, to_warehouse="WH1"), 422, "give from_bin and to_bin"),
        (_body(sku, to_warehouse="WH1", from_bin="A-01"), 422, "give from_bin and to_bin"),
        (
            _body(sku, to_warehouse="WH1", from_bin="A-01", to_bin="A-01"),
            422,
            "nothing would move",
        ),
        (_body(sku, to_warehouse="WH1", from_bin="A-01", to_bin="Z-99"), 422, "no bin 'Z-99'"),
        (_body(sku, kind="fixed_cost"), 422, "needs the unit cost of every line"),
        (
            _body(sku, lines=[{"sku_code": sku, "qty": 2, "unit_cost": "3"}]),
            422,
            "leave out the unit cost",
        ),
        (
            _body(sku, kind="fixed_cost", lines=[{"sku_code": sku, "qty": 2, "unit_cost": 3.5}]),
            422,
            "JSON float",
        ),
        (_body(sku, kind="cheap"), 422, "same_price"),
        (_body(sku, lines=[{"sku_code": sku, "qty": 0}]), 422, "greater than or equal to 1"),
        (_body(sku, lines=[{"sku_code": "NO-SUCH", "qty": 1}]), 422, "unknown SKU"),
        (_body(sku, lines=[{"sku_code": sku, "qty": 1}] * 2), 422, "more than one line"),
    ]
    before = demo.get(TR, params={"limit": 1000}).json()
    for body, code, says in cases:
        r = demo.post(TR, json=body)
        assert r.status_code == code, (body, r.text)
        assert says in r.text, (body, r.text)
        assert demo.get(f"{TR}/TR-BAD-1").status_code == 404
    assert demo.get(TR, params={"limit": 1000}).json() == before


def test_refusals_along_the_way_change_nothing(demo: TestClient) -> None:
    sku = sku_with_stock(demo, 6)
    number = new_transfer(demo, sku, 4)

    def refused(method: str, path: str, code: int, says: str, **kw: Any) -> None:
        before = state(demo, number, sku)
        r = demo.request(method, path, **kw)
        assert r.status_code == code, r.text
        assert says in r.text, r.text
        assert state(demo, number, sku) == before

    refused("POST", TR, 409, "already exists", json=_body(sku, number=number))
    # Received before it shipped: nothing is in transit.
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        409,
        "only a shipped transfer is received",
        json=receipt("BAD-R0", sku, 1),
    )
    refused(
        "POST",
        f"{TR}/{number}/cancel-shipment",
        409,
        "only a shipped transfer",
        json={"reason": "x"},
    )
    assert demo.post(f"{TR}/{number}/ship").status_code == 200
    refused("POST", f"{TR}/{number}/ship", 409, "only an audited transfer is shipped")
    refused("POST", f"{TR}/{number}/cancel", 409, "take a shipment back", json={"reason": "x"})
    # Received at the sender instead of the receiver.
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        409,
        "goes to warehouse WH2, not WH1",
        json=receipt("BAD-R1", sku, 1, "WH1"),
    )
    # More than was shipped.
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        409,
        "shipped 4, received 0; at most 4 more can arrive, this receipt brings 5",
        json=receipt("BAD-R2", sku, 5),
    )
    other = sku_with_stock(demo, 1)
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        409,
        "is not on transfer",
        json=receipt("BAD-R3", other, 1),
    )
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        422,
        "needs a reason",
        json=receipt("BAD-R4", sku, 1, verdict="fail"),
    )
    assert demo.post(f"{TR}/{number}/receipts", json=receipt("OK-R1", sku, 3)).status_code == 201
    # Received twice: the same id with other lines; a new id beyond what is left.
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        409,
        "already booked with other lines",
        json=receipt("OK-R1", sku, 1),
    )
    refused(
        "POST",
        f"{TR}/{number}/receipts",
        409,
        "shipped 4, received 3; at most 1 more",
        json=receipt("BAD-R5", sku, 3),
    )
    # 冲销出库 while something is received: cancel the receipt first.
    refused(
        "POST", f"{TR}/{number}/cancel-shipment", 409, "cancel them first", json={"reason": "x"}
    )
    # A transfer's movement is not reversed behind the document's back.
    moves = demo.get("/api/v1/stock/movements", params={"document": f"tr:{number}"}).json()
    refused(
        "POST",
        f"/api/v1/stock/movements/{moves[0]['id']}/reverse",
        409,
        "reverse it on the transfer",
        json={"reason": "x"},
    )
    rev = demo.post(f"{TR}/{number}/receipts/OK-R1/cancel", json={"reason": "录错"})
    assert rev.status_code == 201, rev.text
    # A reversal of a reversal: the receipt again, and the reversal's own movement.
    refused(
        "POST",
        f"{TR}/{number}/receipts/OK-R1/cancel",
        409,
        "a reversal is not reversed",
        json={"reason": "x"},
    )
    refused(
        "POST",
        f"/api/v1/stock/movements/{rev.json()['movement_ids'][0]}/reverse",
        409,
        "cannot be reversed",
        json={"reason": "x"},
    )
    refused(
        "POST", f"{TR}/{number}/receipts/NO-SUCH/cancel", 404, "no receipt", json={"reason": "x"}
    )
    assert demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "x"}).status_code == 201
    refused(
        "POST",
        f"{TR}/{number}/cancel-shipment",
        409,
        "a reversal is not reversed",
        json={"reason": "x"},
    )


def test_shipping_more_than_the_sender_has_is_refused_whole(demo: TestClient) -> None:
    sku = sku_with_stock(demo, 3)
    other = sku_with_stock(demo, 10)
    number = new_transfer(
        demo, sku, 1, lines=[{"sku_code": other, "qty": 5}, {"sku_code": sku, "qty": 4}]
    )
    before = state(demo, number, sku), state(demo, number, other)
    r = demo.post(f"{TR}/{number}/ship")
    assert r.status_code == 409 and "would go negative" in r.json()["detail"], r.text
    assert (state(demo, number, sku), state(demo, number, other)) == before
    assert demo.get(f"{TR}/{number}").json()["status"] == "audited"
