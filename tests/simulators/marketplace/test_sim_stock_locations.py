"""``POST /_sim/stock`` for a Shopify shop with several locations (simulators/marketplace/
stock.py ``put_levels``): the levels are set at the location named, the others keep theirs
and the shop's total is their sum; no location, a location the shop lacks, a location for a
shop without locations or a level below 0 is a 400 with the reason, and nothing changes."""

from __future__ import annotations

from typing import Any

import httpx

from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.inventory import set_locations

DOMAIN = "loc-sim.myshopify.com"
SZ, YW = 71001, 71002


def test_sim_stock_sets_the_location_named() -> None:
    market = Market(seed=5)
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, "shpat-x", "secret")
    with market.lock:
        set_locations(market, DOMAIN, [{"id": SZ, "name": "Shenzhen"}, {"id": YW, "name": "Yiwu"}])
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sim")
    sku = market.skus[0]

    def post(body: Any) -> httpx.Response:
        return http.post("/_sim/stock", json=body)

    assert post({"seller_nick": DOMAIN, "location_id": SZ, "levels": {sku: 4}}).status_code == 200
    ok = post({"seller_nick": DOMAIN, "location_id": YW, "levels": {sku: 7}})
    assert ok.status_code == 200
    at = {(r["location_id"], r["sku"]): r["quantity"] for r in ok.json()["at"]}
    assert (at[(SZ, sku)], at[(YW, sku)]) == (4, 7)  # Yiwu's set left Shenzhen's as it was
    assert market.stock.levels[(DOMAIN, sku)] == 11
    assert market.stock.log[-1]["location"] == YW

    before = (dict(market.stock.at), dict(market.stock.levels), len(market.stock.log))
    for body, said in (
        ({"seller_nick": DOMAIN, "levels": {sku: 9}}, "give location_id"),
        ({"seller_nick": DOMAIN, "location_id": 6500000001, "levels": {sku: 9}}, "is not one of"),
        ({"seller_nick": "nick-tb", "location_id": SZ, "levels": {sku: 9}}, "has no locations"),
        ({"seller_nick": DOMAIN, "location_id": SZ, "levels": {sku: -1}}, "0 or more"),
        ({"seller_nick": DOMAIN, "location_id": "x", "levels": {sku: 1}}, "invalid literal"),
    ):
        bad = post(body)
        assert bad.status_code == 400, body
        assert said in bad.json()["error"], bad.text
        assert (dict(market.stock.at), dict(market.stock.levels), len(market.stock.log)) == before
