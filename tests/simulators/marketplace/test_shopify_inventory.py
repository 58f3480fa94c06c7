"""The Shopify store's inventory (shopify/inventory.py): products with their variant's SKU
and inventory item, the one location, inventory levels, ``set.json`` (absolute) and
``adjust.json`` (a change, no floor, no key: the same change twice is applied twice), bad
input refused with nothing changed, a purchase taken from the same level, a lost answer that
committed."""

from __future__ import annotations

import httpx

from simulators.marketplace.shopify.inventory import LOCATION
from tests.simulators.marketplace.test_shopify import DOMAIN, TOKEN, world

BASE = "/admin/api/2024-10/"


def test_levels_set_adjust_purchases_and_refusals() -> None:
    market, app = world(seed=9)
    http = httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url="http://sim",
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    products = http.get(BASE + "products.json", params={"limit": "250"}).json()["products"]
    items = {p["variants"][0]["sku"]: p["variants"][0]["inventory_item_id"] for p in products}
    assert set(items) == set(market.skus)
    (loc,) = http.get(BASE + "locations.json").json()["locations"]
    assert loc["id"] == LOCATION and loc["active"]
    item = items["SKU-A"]

    def level() -> int:
        rows = http.get(
            BASE + "inventory_levels.json",
            params={"inventory_item_ids": str(item), "location_ids": str(LOCATION)},
        ).json()["inventory_levels"]
        return int(rows[0]["available"])

    body = {"location_id": LOCATION, "inventory_item_id": item}
    r = http.post(BASE + "inventory_levels/set.json", json={**body, "available": 5})
    assert r.status_code == 200 and r.json()["inventory_level"]["available"] == 5
    for _ in range(2):  # no idempotency key: applied twice
        http.post(BASE + "inventory_levels/adjust.json", json={**body, "available_adjustment": 2})
    assert level() == 9
    r = http.post(BASE + "inventory_levels/adjust.json", json={**body, "available_adjustment": -12})
    assert r.status_code == 200 and level() == -3  # Shopify lets it go below 0
    # Refused, and nothing changes: a missing field, an unknown item, a fraction, a negative set.
    for path, extra in (
        ("set.json", {"location_id": LOCATION, "inventory_item_id": item}),
        ("set.json", {**body, "inventory_item_id": 1, "available": 1}),
        ("adjust.json", {**body, "available_adjustment": 1.5}),
        ("set.json", {**body, "available": -1}),
    ):
        r = http.post(BASE + "inventory_levels/" + path, json=extra)
        assert r.status_code in (400, 422) and "errors" in r.json(), (path, extra)
    assert level() == -3
    assert http.get(BASE + "inventory_levels.json").status_code == 422
    # Payments take from the level (付款减库存): one unit of SKU-A on sale, nothing else.
    for sku, inventory_item in items.items():
        one = 1 if sku == "SKU-A" else 0
        http.post(
            BASE + "inventory_levels/set.json",
            json={"location_id": LOCATION, "inventory_item_id": inventory_item, "available": one},
        )
    before = len(market.stock.log)
    paid = [market.stock.take(market, market.place()) for _ in range(6)]
    sold = [c for c in market.stock.log[before:] if c["action"] == "sale"]
    assert sum(-c["delta"] for c in sold) == sum(paid) <= 1 and level() == 1 - sum(paid)
    assert any(c["action"] == "refused" for c in market.stock.log[before:])
    # A write that commits and then loses its answer (504 page).
    market.stock.faults.push_timeout = 1.0
    was = level()
    r = http.post(BASE + "inventory_levels/adjust.json", json={**body, "available_adjustment": 4})
    assert r.status_code == 504 and "text/html" in r.headers["content-type"]
    assert level() == was + 4
    assert (
        http.get(BASE + "products.json", headers={"X-Shopify-Access-Token": "x"}).status_code == 401
    )
    assert DOMAIN in {n for n, _ in market.stock.levels}
