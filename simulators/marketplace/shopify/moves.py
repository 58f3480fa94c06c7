"""``POST fulfillment_orders/{id}/move.json`` of the Shopify simulator (shopify/admin.py;
Admin REST "FulfillmentOrder", move; Admin GraphQL "fulfillmentOrderMove" says what a move
of a partly fulfilled fulfillment order does)."""

from __future__ import annotations

from typing import Any

import orjson

from simulators.marketplace.shopify import inventory
from simulators.marketplace.shopify.replies import SPLIT_FO, ApiError, Reply
from simulators.marketplace.shopify.replies import ok as _ok


def move(store: Any, domain: str, fo_id: int, raw: bytes) -> Reply:
    """``store``: the shops' ``ShopifyStore`` (admin.py, which calls this).
    ``POST fulfillment_orders/{id}/move.json`` ``{"fulfillment_order":
    {"new_location_id"}}`` (Admin REST "FulfillmentOrder", move): a fulfillment order
    nothing of which is fulfilled moves whole and keeps its id; one with some units
    fulfilled (``in_progress``) moves only the units left, into a new one."""
    try:
        new = orjson.loads(raw)["fulfillment_order"]["new_location_id"]
        if isinstance(new, bool) or not str(new).isdigit():
            raise TypeError(new)
    except (ValueError, KeyError, TypeError):
        why = "Required parameter missing or invalid: new_location_id"
        raise ApiError(400, {"fulfillment_order": [why]}) from None
    fo, _ = store._fo(domain, fo_id)
    active = {int(r["id"]) for r in inventory.locations(store.market, domain) if r["active"]}
    if int(new) not in active:
        raise ApiError(422, ["Cannot move to a location that does not exist or is inactive."])
    if fo["status"] not in ("open", "in_progress"):
        raise ApiError(422, [f"Fulfillment order {fo_id} has an unmovable status= {fo['status']}."])
    original = dict(fo)
    if fo["status"] == "in_progress" and int(new) != int(fo["assigned_location_id"]):
        # Some units fulfilled (Admin GraphQL "fulfillmentOrderMove": "Line items which
        # have already been fulfilled can't be re-assigned and will always remain
        # assigned to the original location"; FulfillmentOrderMovePayload: the moved
        # fulfillment order "will differ from the original one", which "might … be
        # closed"): the units left go into a new fulfillment order at the new location;
        # the original keeps what was fulfilled, closed, where it was.
        left = {
            int(li["id"]): int(li["fulfillable_quantity"])
            for li in fo["line_items"]
            if int(li["fulfillable_quantity"]) > 0
        }
        tid = int(fo["order_id"])
        new_id = store.fo_ids.setdefault((tid, -fo_id), SPLIT_FO + len(store.fo_ids) + 1)
        store.fo_split[fo_id] = (new_id, int(new), left)
        store.fo_done.add(fo_id)
        after, _ = store._fo(domain, fo_id)
        moved, _ = store._fo(domain, new_id)
        store.webhooks.moved(domain, tid, moved, int(original["assigned_location_id"]), int(new))
        return _ok(
            {
                "original_fulfillment_order": after,
                "moved_fulfillment_order": moved,
                "remaining_fulfillment_order": None,
            }
        )
    store.moved[fo_id] = int(new)
    moved, _ = store._fo(domain, fo_id)
    if int(new) != int(original["assigned_location_id"]):
        store.webhooks.moved(
            domain, int(fo["order_id"]), moved, int(original["assigned_location_id"]), int(new)
        )
    return _ok(
        {
            "original_fulfillment_order": original,
            "moved_fulfillment_order": moved,
            "remaining_fulfillment_order": None,
        }
    )
