"""Shopify's inventory over the marketplace world's stock (Admin REST "Product",
"Location", "InventoryLevel"; shopify.dev).

- ``GET products.json`` (``limit`` ≤ 250, ``fields``): the shop's products, one per SKU code
  of the world here, each with one variant (``id``, ``product_id``, ``sku``,
  ``inventory_item_id``, ``inventory_quantity``, ``inventory_management: "shopify"``);
- ``GET locations.json``: the shop's locations: one (``LOCATION``) unless the control plane
  gave it several (``POST /_sim/shopify/locations`` ``{"domain", "locations": [{"id",
  "name", "active"?}]}``, in priority order: a sale is taken from them in that order);
- ``GET inventory_levels.json`` (``inventory_item_ids`` and/or ``location_ids``, comma
  separated; one of them required): ``inventory_levels[]`` with ``inventory_item_id``,
  ``location_id``, ``available``, ``updated_at``;
- ``POST inventory_levels/set.json`` ``{"location_id", "inventory_item_id", "available"}``:
  an absolute overwrite (no compare-and-set in REST);
- ``POST inventory_levels/adjust.json`` ``{"location_id", "inventory_item_id",
  "available_adjustment"}``: a signed change, applied atomically with purchases. Shopify lets
  ``available`` go below 0 (a purchase then waits: the shop's "deny" policy here); there is
  **no idempotency key** in REST: the same change sent twice is applied twice.

Both writes answer ``{"inventory_level": {...}}``. The stock faults of the world apply
(``StockFaults``): ``buy_during_push`` (a buyer pays between the ask and the apply) and
``push_timeout`` (the write commits, then the front answers a 504 page). Approximations: one
product per SKU and no ``Link`` paging of products (the world has a
handful of SKUs); the 422 wording for an unknown inventory item is ours.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from simulators.marketplace.market import Market
from simulators.marketplace.shopify.shape import iso

PRODUCT, VARIANT, ITEM = 8_100_000_000, 8_200_000_000, 8_300_000_000
LOCATION = 6_500_000_001


class Refusal(Exception):
    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(str(errors))
        self.status, self.errors = status, errors


def item_id(market: Market, sku: str) -> int:
    return ITEM + market.skus.index(sku)


def _sku_of(market: Market, inventory_item_id: Any) -> str:
    for i, sku in enumerate(market.skus):
        if str(ITEM + i) == str(inventory_item_id):
            return str(sku)
    raise Refusal(422, {"inventory_item_id": ["Inventory item does not exist"]})


def locations(market: Market, domain: str) -> list[dict[str, Any]]:
    """The shop's locations: those the control plane gave it, else the one default."""
    named = market.stock.shop_locations.get(domain)
    return named or [{"id": LOCATION, "name": "Shop location", "active": True}]


def set_locations(market: Market, domain: str, rows: list[dict[str, Any]]) -> None:
    """The shop's locations from now on (the control plane), in priority order."""
    clean = [
        {"id": int(r["id"]), "name": str(r.get("name") or r["id"]), "active": r.get("active", True)}
        for r in rows
    ]
    if not clean or len({r["id"] for r in clean}) != len(clean):
        raise ValueError("locations: at least one, ids unique")
    market.stock.shop_locations[domain] = clean
    market.stock.set_locations(domain, [r["id"] for r in clean if r["active"]])


def _level(market: Market, domain: str, sku: str, location: int = LOCATION) -> dict[str, Any]:
    stock = market.stock
    several = domain in stock.locations
    return {
        "inventory_item_id": item_id(market, sku),
        "location_id": location,
        "available": (
            stock.level_at(domain, sku, location) if several else stock.levels.get((domain, sku), 0)
        ),
        "updated_at": iso(stock.modified.get((domain, sku), market.now)),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id="
        f"{item_id(market, sku)}",
    }


def _ids(text: str, name: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if any(not t.isdigit() for t in ids) or len(ids) > 50:
        raise Refusal(400, {name: ["must be at most 50 ids, separated by commas"]})
    return ids


def handle(
    market: Market, domain: str, verb: str, rest: str, query: str, raw: bytes
) -> tuple[int, Any, bool] | None:
    """One inventory call: (status, body, whether the answer is lost), or None when ``rest``
    is not an inventory path. Raises :class:`Refusal`."""
    stock = market.stock
    if rest == "products.json" and verb == "GET":
        stock.limited.add(domain)  # from the first stock call on, buyers are limited
        products = [
            {
                "id": PRODUCT + i,
                "title": f"item {sku}",
                "variants": [
                    {
                        "id": VARIANT + i,
                        "product_id": PRODUCT + i,
                        "sku": sku,
                        "inventory_item_id": ITEM + i,
                        "inventory_quantity": stock.levels.get((domain, sku), 0),
                        "inventory_management": "shopify",
                    }
                ],
            }
            for i, sku in enumerate(market.skus)
        ]
        return 200, {"products": products}, False
    if rest == "locations.json" and verb == "GET":
        return 200, {"locations": locations(market, domain)}, False
    if rest == "inventory_levels.json" and verb == "GET":
        q = dict(parse_qsl(query, keep_blank_values=True))
        items = _ids(q.get("inventory_item_ids", ""), "inventory_item_ids")
        wanted = _ids(q.get("location_ids", ""), "location_ids")
        if not items and not wanted:
            raise Refusal(422, ["inventory_item_ids or location_ids is required"])
        stock.limited.add(domain)
        active = [r["id"] for r in locations(market, domain) if r["active"]]
        rows = [
            _level(market, domain, sku, loc)
            for loc in active
            for i, sku in enumerate(market.skus)
            if (not items or str(ITEM + i) in items) and (not wanted or str(loc) in wanted)
        ]
        return 200, {"inventory_levels": rows}, False
    if rest in ("inventory_levels/set.json", "inventory_levels/adjust.json") and verb == "POST":
        absolute = rest.endswith("set.json")
        name = "available" if absolute else "available_adjustment"
        try:
            body = orjson.loads(raw)
            location, item, value = body["location_id"], body["inventory_item_id"], body[name]
        except (ValueError, KeyError, TypeError):
            why = f"Required parameter missing or invalid: {name}"
            raise Refusal(400, why) from None
        by_id = {str(r["id"]): int(r["id"]) for r in locations(market, domain) if r["active"]}
        if isinstance(location, bool) or str(location) not in by_id:
            raise Refusal(422, {"location_id": ["Location does not exist"]})
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 1_000_000_000:
            raise Refusal(422, {name: ["must be a whole number"]})
        sku = _sku_of(market, item)
        if absolute and value < 0:
            raise Refusal(422, {name: ["must be 0 or more"]})
        loc = by_id[str(location)]
        stock.write(market, domain, sku, value, absolute=absolute, location=loc)
        lost = market.rng.random() < stock.faults.push_timeout
        return 200, {"inventory_level": _level(market, domain, sku, loc)}, lost
    return None
