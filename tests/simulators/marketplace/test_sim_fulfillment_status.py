"""The order's fulfilment as the simulator's Shopify shows it (Admin REST "Order":
``fulfillment_status`` null / ``partial`` / ``fulfilled``, each line item's
``fulfillment_status`` and ``fulfillable_quantity``), in ``orders.json``, ``orders/{id}.json``
and the ``orders/updated`` webhooks alike: after some units, after the rest of a line, after
all, after a fulfillment is cancelled (``POST fulfillments/{id}/cancel.json``), and after all
again. Before this, the order stayed null until every unit was sent."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Market

DOMAIN = "status-sim.myshopify.com"
TOKEN = {"X-Shopify-Access-Token": "shpat-st"}
API = "/admin/api/2024-10"


def test_partial_fulfilled_and_back_after_a_cancel_in_every_view() -> None:
    market = Market(seed=11)
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, "shpat-st", "secret")
    app.shopify.webhooks.addresses[DOMAIN] = "http://hub/hooks"
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sim")
    with market.lock:
        shop = next(s for s in market.shops.values() if s.seller_nick == DOMAIN)
        tid = market.place_for(shop, market.skus[0])
        one = market.trades[tid][-1].trade["orders"]["order"][0]
        # Two lines: A of 3 units, B of 1.
        lines = [{**one, "num": 3}, {**one, "oid": one["oid"] + 1, "num": 1}]
        market.change(tid, "modify", orders={"order": lines})
        market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    a, b = lines[0]["oid"], lines[1]["oid"]

    def views() -> list[dict[str, Any]]:
        """The order from orders/{id}.json, orders.json (status=any) and the newest
        orders/updated webhook queued for it."""
        market.advance(1)
        got = http.get(f"{API}/orders/{tid}.json", headers=TOKEN).json()["order"]
        listed = http.get(f"{API}/orders.json", params={"status": "any"}, headers=TOKEN)
        (row,) = [o for o in listed.json()["orders"] if o["id"] == tid]
        hooks = [e for e in app.shopify.webhooks.queue if e.order_id == tid]
        return [got, row, orjson.loads(hooks[-1].body)]

    def seen(order: dict[str, Any]) -> tuple[Any, ...]:
        by = {li["id"]: li for li in order["line_items"]}
        return (
            order["fulfillment_status"],
            (by[a]["fulfillment_status"], by[a]["fulfillable_quantity"]),
            (by[b]["fulfillment_status"], by[b]["fulfillable_quantity"]),
            order["closed_at"] is None,
        )

    def expect(*want: Any) -> None:
        for order in views():
            assert seen(order) == want, order

    (fo,) = http.get(f"{API}/orders/{tid}/fulfillment_orders.json", headers=TOKEN).json()[
        "fulfillment_orders"
    ]
    li = {x["line_item_id"]: x["id"] for x in fo["line_items"]}

    def fulfil(number: str, items: list[tuple[int, int]]) -> int:
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [
                    {
                        "fulfillment_order_id": fo["id"],
                        "fulfillment_order_line_items": [
                            {"id": li[line], "quantity": q} for line, q in items
                        ],
                    }
                ],
                "tracking_info": {"number": number, "company": "ZTO"},
            }
        }
        made = http.post(f"{API}/fulfillments.json", json=body, headers=TOKEN)
        assert made.status_code == 201, made.text
        return int(made.json()["fulfillment"]["id"])

    def cancel(fid: int) -> httpx.Response:
        return http.post(f"{API}/fulfillments/{fid}/cancel.json", json={}, headers=TOKEN)

    expect(None, (None, 3), (None, 1), True)
    before = http.get(f"{API}/orders/{tid}.json", headers=TOKEN).json()["order"]["updated_at"]
    first = fulfil("T-1", [(a, 1)])
    expect("partial", ("partial", 2), (None, 1), True)
    # A fulfillment changes the order: updated_at moves (a download window sees it).
    after = http.get(f"{API}/orders/{tid}.json", headers=TOKEN).json()["order"]["updated_at"]
    assert after > before
    # Still open: orders.json's default status lists it.
    assert tid in [o["id"] for o in http.get(f"{API}/orders.json", headers=TOKEN).json()["orders"]]
    fulfil("T-2", [(a, 2)])
    expect("partial", ("fulfilled", 0), (None, 1), True)
    last = fulfil("T-3", [(b, 1)])
    expect("fulfilled", ("fulfilled", 0), ("fulfilled", 0), False)
    assert market.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    # The last parcel cancelled: B is to send again, the order partial and open.
    gone = cancel(last)
    assert gone.status_code == 200, gone.text
    assert gone.json()["fulfillment"]["status"] == "cancelled"
    expect("partial", ("fulfilled", 0), (None, 1), True)
    assert market.trades[tid][-1].trade["status"] == "WAIT_SELLER_SEND_GOODS"
    assert market.shipments.get(tid) is None
    again = cancel(last)
    assert again.status_code == 422 and "already cancelled" in again.text, again.text
    listed = http.get(f"{API}/orders/{tid}/fulfillments.json", headers=TOKEN).json()
    assert [f["status"] for f in listed["fulfillments"]] == ["success", "success", "cancelled"]
    # The first one too: one unit of A back.
    assert cancel(first).status_code == 200
    expect("partial", ("partial", 1), (None, 1), True)
    (fo_now,) = http.get(f"{API}/orders/{tid}/fulfillment_orders.json", headers=TOKEN).json()[
        "fulfillment_orders"
    ]
    assert fo_now["status"] == "in_progress"
    assert {x["line_item_id"]: x["fulfillable_quantity"] for x in fo_now["line_items"]} == {
        a: 1,
        b: 1,
    }
    # And the rest: fulfilled again.
    fulfil("T-4", [(a, 1), (b, 1)])
    expect("fulfilled", ("fulfilled", 0), ("fulfilled", 0), False)
    assert market.shipments[tid] == {"out_sid": "T-4", "company_code": "ZTO"}
    assert cancel(999).status_code == 404
