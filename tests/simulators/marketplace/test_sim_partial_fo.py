"""Partial fulfilment in the simulator's Shopify (simulators/marketplace/shopify/admin.py, as
Admin REST "Fulfillment" create has it): a fulfillment may send some units of a fulfillment
order (``fulfillment_order_line_items`` with the line item's ``id`` and ``quantity``); the
fulfillment order is then ``in_progress`` with what is left as ``fulfillable_quantity``, and
closed when nothing is. More than is left, a line item of another fulfillment order, a
quantity that is not a whole number above 0: refused (422/400), nothing fulfilled."""

from __future__ import annotations

from typing import Any

import httpx

from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Market

DOMAIN = "partial-sim.myshopify.com"
TOKEN = {"X-Shopify-Access-Token": "shpat-p"}
API = "/admin/api/2024-10"


def test_some_units_then_the_rest_and_never_more_than_is_left() -> None:
    market = Market(seed=8)
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, "shpat-p", "secret")
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sim")
    with market.lock:
        shop = next(s for s in market.shops.values() if s.seller_nick == DOMAIN)
        tid = market.place_for(shop, market.skus[0])
        line = {**market.trades[tid][-1].trade["orders"]["order"][0], "num": 3}
        market.change(tid, "modify", orders={"order": [line]})
        market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")

    def fo() -> dict[str, Any]:
        got = http.get(f"{API}/orders/{tid}/fulfillment_orders.json", headers=TOKEN)
        (only,) = got.json()["fulfillment_orders"]
        return dict(only)

    def fulfil(number: str, items: Any) -> httpx.Response:
        group: dict[str, Any] = {"fulfillment_order_id": first["id"]}
        if items is not None:
            group["fulfillment_order_line_items"] = items
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [group],
                "tracking_info": {"number": number, "company": "ZTO"},
            }
        }
        return http.post(f"{API}/fulfillments.json", json=body, headers=TOKEN)

    first = fo()
    (li,) = first["line_items"]
    assert (first["status"], li["quantity"], li["fulfillable_quantity"]) == ("open", 3, 3)
    # Refused, nothing fulfilled: more than is left, another's line item, not a count.
    for bad, status in (
        ([{"id": li["id"], "quantity": 4}], 422),
        ([{"id": li["id"] + 1, "quantity": 1}], 422),
        ([{"id": li["id"], "quantity": 0}], 422),
        ([{"id": li["id"], "quantity": "1"}], 400),
        ([{"id": li["id"], "quantity": True}], 400),
        ([], 400),
    ):
        answer = fulfil("T-bad", bad)
        assert answer.status_code == status, (bad, answer.text)
    assert market.confirmations == [] and fo() == first
    assert http.get(f"{API}/orders/{tid}/fulfillments.json", headers=TOKEN).json() == {
        "fulfillments": []
    }
    # One unit: in progress, 2 left; the order is not fulfilled yet.
    made = fulfil("T-1", [{"id": li["id"], "quantity": 1}])
    assert made.status_code == 201, made.text
    assert made.json()["fulfillment"]["line_items"] == [{"id": line["oid"], "quantity": 1}]
    after = fo()
    assert after["status"] == "in_progress"
    assert after["line_items"][0]["fulfillable_quantity"] == 2
    assert market.trades[tid][-1].trade["status"] == "WAIT_SELLER_SEND_GOODS"
    # Three more is more than is left: 422 with the reason, nothing changed.
    over = fulfil("T-2", [{"id": li["id"], "quantity": 3}])
    assert over.status_code == 422 and "left to fulfil" in over.text, over.text
    assert fo() == after and len(market.confirmations) == 1
    # The rest (no line items: all it has left): closed, the order fulfilled.
    assert fulfil("T-2", None).status_code == 201
    assert fo()["status"] == "closed"
    assert market.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert [(c["out_sid"], c["line_items"]) for c in market.confirmations] == [
        ("T-1", {line["oid"]: 1}),
        ("T-2", {line["oid"]: 2}),
    ]
    assert fulfil("T-3", [{"id": li["id"], "quantity": 1}]).status_code == 422  # closed
