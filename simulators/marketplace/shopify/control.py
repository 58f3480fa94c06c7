"""The Shopify part of the simulator's control plane, ``/_sim/shopify/…`` (JSON in and out):

- ``POST /_sim/shopify/shops`` ``{"domain", "token", "secret"}``: a shop with the app
  installed (its access token) and the app's secret (webhook HMACs);
- ``POST /_sim/shopify/reauthorise`` ``{"token", "new_token", "expires_in"?}``: the app
  installed again; the old token is a 401 from now on (``/_sim/expire`` expires one);
- ``POST /_sim/shopify/webhooks`` ``{"domain", "address"}``: an address that gets every
  topic of the shop (kept for tests written before subscriptions; an app subscribes through
  ``webhooks.json``: shopify/subscriptions.py);
- ``POST /_sim/shopify/locations`` ``{"domain", "locations": [{"id", "name", "active"?}]}``:
  the shop's locations, in priority order (stock kept per location from then on);
- ``POST /_sim/shopify/webhook_faults`` a :class:`WebhookFaults` as JSON, or ``{"seed": n}``;
- ``POST /_sim/shopify/deliver``: send the due webhooks now, over HTTP;
- ``GET  /_sim/shopify/webhooks``: every delivery so far and how many were dropped.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import fields as dc_fields
from typing import Any

import httpx

from simulators.marketplace.shopify import inventory
from simulators.marketplace.shopify.admin import ShopifyStore
from simulators.marketplace.shopify.inventory import set_locations
from simulators.marketplace.shopify.webhooks import WebhookFaults


def control(store: ShopifyStore, verb: str, name: str, args: dict[str, Any]) -> Any:
    hooks = store.webhooks
    if name == "webhooks" and verb == "GET":
        return {"log": hooks.log, "dropped": hooks.dropped, "queued": len(hooks.queue)}
    if verb != "POST":
        return None
    if name == "shops":
        store.add_shop(str(args["domain"]), str(args["token"]), str(args["secret"]))
        return {"domain": args["domain"]}
    if name == "reauthorise":
        expires = args.get("expires_in")
        store.reauthorise(
            str(args["token"]),
            str(args["new_token"]),
            None if expires is None else float(expires),
        )
        return {"token": args["new_token"]}
    if name == "webhooks":
        hooks.addresses[str(args["domain"])] = str(args["address"])
        return {"address": args["address"]}
    if name == "locations":
        rows = args["locations"]
        if not isinstance(rows, list):
            raise KeyError("locations is a list")
        with store.market.lock:
            set_locations(store.market, str(args["domain"]), rows)
        return {"locations": inventory.locations(store.market, str(args["domain"]))}
    if name == "webhook_faults":
        if "seed" in args:
            hooks.faults = WebhookFaults.seeded(int(args["seed"]))
        else:
            known = {f.name for f in dc_fields(WebhookFaults)}
            for key, value in args.items():
                if key not in known:
                    raise KeyError(f"no webhook fault {key!r}")
                setattr(hooks.faults, key, float(value))
        return asdict(hooks.faults)
    if name == "deliver":
        return {"sent": hooks.deliver(post)}
    return None


def post(url: str, headers: dict[str, str], body: bytes) -> int:
    """One delivery over HTTP; a refused connection or a timeout counts as a failure."""
    try:
        return httpx.post(url, headers=headers, content=body, timeout=5.0).status_code
    except httpx.HTTPError:
        return 599
