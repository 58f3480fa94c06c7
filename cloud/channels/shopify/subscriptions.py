"""The hub's webhook subscriptions on a Shopify shop, made through the Admin REST API.

Shape (shopify.dev, Admin REST "Webhook"): ``GET webhooks.json`` lists the app's
subscriptions on the shop (``limit`` up to 250, pages by the ``Link`` header), ``POST
webhooks.json`` ``{"webhook": {"topic", "address", "format": "json"}}`` makes one (201), and
the same topic and address again is a 422 "for this topic has already been taken".

:meth:`ShopifySubscriptions.ensure` is idempotent: a subscription of the topic at the address
is kept, not made again; a make whose answer was lost and that the client sent again meets
the 422 and counts as kept. Subscriptions of other topics or addresses (another app's, an old
address of the hub) are left as they are.
"""

from __future__ import annotations

from typing import Any

from cloud.channels.ports import Refused
from cloud.channels.shopify.client import AdminClient, next_page_info

#: What the hub acts on (cloud/channels/shopify/webhooks.py): the order topics are hints,
#: ``refunds/create`` is stored from its body, ``fulfillment_orders/moved`` a hint too.
TOPICS = ("orders/create", "orders/updated", "refunds/create", "fulfillment_orders/moved")
TAKEN = "already been taken"


def address_of(hub_url: str, shop_code: str) -> str:
    """The hub's webhook address of a shop (cloud/api/channel_webhooks.py)."""
    return f"{hub_url.rstrip('/')}/api/v1/channels/webhooks/shopify/{shop_code}"


class ShopifySubscriptions:
    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def listed(self) -> list[dict[str, Any]]:
        """Every subscription of the app on the shop."""
        params = {"limit": "250"}
        out: list[dict[str, Any]] = []
        while True:
            data, headers = self.client.get("webhooks.json", params)
            rows = data.get("webhooks") if isinstance(data, dict) else None
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise Refused("webhooks.json: webhooks is not a list of objects")
            out.extend(rows)
            cursor = next_page_info(headers.get("Link"))
            if cursor is None:
                return out
            params = {"limit": "250", "page_info": cursor}

    def ensure(self, address: str, topics: tuple[str, ...] = TOPICS) -> dict[str, str]:
        """Each topic subscribed at ``address``: ``{topic: "kept" | "made"}``."""
        have = {(str(w.get("topic")), str(w.get("address"))) for w in self.listed()}
        out: dict[str, str] = {}
        for topic in topics:
            if (topic, address) in have:
                out[topic] = "kept"
                continue
            body = {"webhook": {"topic": topic, "address": address, "format": "json"}}
            try:
                self.client.post("webhooks.json", body)
                out[topic] = "made"
            except Refused as err:
                if err.sub_code == "422" and TAKEN in str(err):
                    out[topic] = "kept"  # made by our first try, whose answer was lost
                else:
                    raise
        return out
