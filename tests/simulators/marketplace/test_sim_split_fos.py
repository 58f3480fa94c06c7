"""Split fulfillment orders in the simulator's Shopify (simulators/marketplace/shopify/admin.py):
an order whose units the world took from two locations has one fulfillment order per
location with the quantities taken there; a fulfillment names fulfillment orders of one
location only (two places: 422, nothing changed), closes only those, and the order is
fulfilled when all are; the truth has one entry per fulfillment order fulfilled."""

from __future__ import annotations

from typing import Any

import httpx

from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.inventory import set_locations

DOMAIN = "split-sim.myshopify.com"
TOKEN = {"X-Shopify-Access-Token": "shpat-x"}
API = "/admin/api/2024-10"
SZ, YW = 71001, 71002


def test_an_order_drawn_from_two_locations_has_two_fulfillment_orders() -> None:
    market = Market(seed=6)
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, "shpat-x", "secret")
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sim")
    sku = market.skus[0]
    with market.lock:
        set_locations(market, DOMAIN, [{"id": SZ, "name": "Shenzhen"}, {"id": YW, "name": "Yiwu"}])
        market.stock.limited.add(DOMAIN)
    for location, units in ((SZ, 1), (YW, 5)):
        body = {"seller_nick": DOMAIN, "location_id": location, "levels": {sku: units}}
        assert http.post("/_sim/stock", json=body).status_code == 200
    with market.lock:
        shop = next(s for s in market.shops.values() if s.seller_nick == DOMAIN)
        tid = market.place_for(shop, sku)
        line = {**market.trades[tid][-1].trade["orders"]["order"][0], "num": 3}
        market.change(tid, "modify", orders={"order": [line]})
        assert market.stock.take(market, tid)
        market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")

    def fos() -> dict[int, dict[str, Any]]:
        got = http.get(f"{API}/orders/{tid}/fulfillment_orders.json", headers=TOKEN)
        return {fo["assigned_location_id"]: fo for fo in got.json()["fulfillment_orders"]}

    def fulfil(*ids: int) -> httpx.Response:
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": i} for i in ids],
                "tracking_info": {"number": f"T{ids[0]}", "company": "ZTO"},
            }
        }
        return http.post(f"{API}/fulfillments.json", json=body, headers=TOKEN)

    first = fos()
    assert {loc: fo["line_items"][0]["quantity"] for loc, fo in first.items()} == {SZ: 1, YW: 2}
    assert {fo["status"] for fo in first.values()} == {"open"}
    sz, yw = first[SZ]["id"], first[YW]["id"]
    # One fulfillment leaves from one place: both at once is refused, nothing changed.
    assert fulfil(sz, yw).status_code == 422
    assert market.confirmations == [] and fos() == first
    assert fulfil(sz).status_code == 201
    assert {loc: fo["status"] for loc, fo in fos().items()} == {SZ: "closed", YW: "open"}
    assert market.trades[tid][-1].trade["status"] == "WAIT_SELLER_SEND_GOODS"  # half sent
    assert fulfil(sz).status_code == 422  # closed: not fulfilled twice
    # The merchant moves the Yiwu one to Shenzhen; it keeps its id and is fulfilled there.
    moved = http.post(
        f"{API}/fulfillment_orders/{yw}/move.json",
        json={"fulfillment_order": {"new_location_id": SZ}},
        headers=TOKEN,
    )
    assert moved.json()["moved_fulfillment_order"]["id"] == yw
    assert fulfil(yw).status_code == 201
    assert market.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    truth = [
        (c["fulfillment_order_id"], c["location_id"], c["out_sid"], c["line_items"])
        for c in market.confirmations
    ]
    oid = line["oid"]
    assert truth == [(sz, SZ, f"T{sz}", {oid: 1}), (yw, SZ, f"T{yw}", {oid: 2})]
