"""The Shopify inventory sink (cloud/channels/ports.py ``InventorySink``), Admin REST
"InventoryLevel" (shopify.dev):

- the listing: ``products.json`` (the variant whose ``sku`` is our code: its
  ``inventory_item_id``), ``locations.json`` (the shop's first active location, for a shop
  with no mapping of locations) and ``inventory_levels.json`` (its ``available`` there);
- several locations (cloud/channels/stock_locations.py): ``locations`` (the shop's active
  ones, to check a mapping against) and ``listing_at`` (the level at one location); the
  change is the same ``adjust.json`` with that ``location_id``;
- a change: ``inventory_levels/adjust.json`` with ``available_adjustment``, applied by Shopify
  atomically with purchases, as Taobao's incremental update. The stock push sends F + D − P
  this way (cloud/channels/stock_push.py), never an overwrite;
- ``inventory_levels/set.json`` (an absolute overwrite, no compare-and-set in REST) only for
  the ablation.

**No idempotency key.** REST's adjust has none, so a change whose answer was lost cannot be
sent again safely (it may be applied twice), nor assumed not applied. ``keyed = False`` tells
the push, which then errs to the side that never oversells: a lost *increase* is counted as
applied and not sent again (if it was not, the shop shows fewer than it could), a lost
*decrease* is sent again (if it was applied, the shop shows fewer). Either way the shop may
show less than our figure until the next re-base; never more.
"""

from __future__ import annotations

from typing import Any

from cloud.channels.ports import ChannelListing, Refused, Retryable
from cloud.channels.shopify.client import AdminClient, next_page_info


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"{what} is not a whole number: {str(value)[:40]!r}")
    return value


class ShopifyStock:
    #: REST has no idempotency key for inventory changes (see the module's docstring).
    keyed = False

    def __init__(self, client: AdminClient, *, page: int = 250, attempts: int = 4) -> None:
        self.client, self.page, self.attempts = client, page, attempts
        self._items: dict[str, str] | None = None
        self._location: str | None = None

    @property
    def calls(self) -> int:
        return self.client.calls

    def _inventory_items(self) -> dict[str, str]:
        """Our code (the variant's ``sku``) -> its inventory item, read once per sink."""
        if self._items is None:
            items: dict[str, str] = {}
            params = {"limit": str(self.page), "fields": "id,variants"}
            while True:
                data, headers = self.client.get("products.json", params)
                for product in data.get("products") or [] if isinstance(data, dict) else []:
                    for v in product.get("variants") or [] if isinstance(product, dict) else []:
                        if isinstance(v, dict) and v.get("sku") and v.get("inventory_item_id"):
                            items.setdefault(str(v["sku"]), str(v["inventory_item_id"]))
                cursor = next_page_info(headers.get("Link"))
                if cursor is None:
                    break
                params = {"limit": str(self.page), "fields": "id,variants", "page_info": cursor}
            self._items = items
        return self._items

    def _location_id(self) -> str:
        if self._location is None:
            data, _ = self.client.get("locations.json")
            rows = data.get("locations") if isinstance(data, dict) else None
            active = [r for r in rows or [] if isinstance(r, dict) and r.get("active")]
            if not active:
                raise Refused("the shop has no active location")
            self._location = str(_int(active[0].get("id"), "location id"))
        return self._location

    def locations(self) -> dict[str, str]:
        """The shop's active locations: id -> name (``locations.json``)."""
        data, _ = self.client.get("locations.json")
        rows = data.get("locations") if isinstance(data, dict) else None
        return {
            str(_int(r.get("id"), "location id")): str(r.get("name") or "")[:200]
            for r in rows or []
            if isinstance(r, dict) and r.get("active")
        }

    def listing(self, sku_code: str) -> ChannelListing | None:
        return self.listing_at(sku_code, self._location_id())

    def listing_at(self, sku_code: str, location: str) -> ChannelListing | None:
        """Our code's level at one location; None when the shop has no variant with that
        ``sku``, does not stock it there, or does not track it."""
        item = self._inventory_items().get(sku_code)
        if item is None:
            return None
        data, _ = self.client.get(
            "inventory_levels.json", {"inventory_item_ids": item, "location_ids": location}
        )
        for row in data.get("inventory_levels") or [] if isinstance(data, dict) else []:
            if isinstance(row, dict) and str(row.get("inventory_item_id")) == item:
                if row.get("available") is None:
                    return None  # not tracked by Shopify: nothing to push
                return ChannelListing(item, location, _int(row.get("available"), "available"))
        return None  # not stocked at the location

    def _write(self, path: str, listing: ChannelListing, name: str, value: int) -> int:
        body = {"location_id": int(listing.sku_id), "inventory_item_id": int(listing.item_id)}
        for attempt in range(1, self.attempts + 1):
            # Sent again only after a 429 (refused before anything was done): any other
            # failure may have been applied, and stock_push decides what it means.
            try:
                data, _ = self.client.post(path, {**body, name: value}, retried=False)
                break
            except Retryable as err:
                if err.sub_code != "429" or attempt == self.attempts:
                    raise
                self.client.sleep(err.wait if err.wait is not None else 1.0)
        level = data.get("inventory_level") if isinstance(data, dict) else None
        if not isinstance(level, dict):
            raise Refused(f"{path}: the answer has no inventory_level")
        return _int(level.get("available"), "available")

    def add(self, listing: ChannelListing, delta: int, key: str) -> int:
        # ``key`` cannot be sent (keyed = False): stock_push decides what a lost answer means.
        return self._write("inventory_levels/adjust.json", listing, "available_adjustment", delta)

    def set(self, listing: ChannelListing, quantity: int) -> int:
        return self._write("inventory_levels/set.json", listing, "available", quantity)
