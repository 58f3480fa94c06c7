"""What a Shopify fulfillment, and its cancel, do to the order (shopify/admin.py serves them).

Shape (shopify.dev, Admin REST "Fulfillment": ``POST fulfillments/{fulfillment_id}/cancel.json``
cancels a fulfillment and answers it with ``status`` ``cancelled``; Admin REST "Order":
``fulfillment_status`` null / ``partial`` / ``fulfilled``, and per line item
``fulfillable_quantity`` and ``fulfillment_status``):

- every fulfillment, of some units or of the rest, is a change of the order: a new version
  of the world's trade (its ``updated_at`` moves, ``orders/updated`` is sent) whose lines
  carry the units sent so far (``shopify_fulfilled``, read by shape.py) — so a partly
  fulfilled order says ``partial`` in ``orders.json``, ``orders/{id}.json`` and the webhooks
  alike;
- a cancelled fulfillment gives its units back to its fulfillment orders (open again, or
  ``in_progress`` while others of their units stay sent); an order that was fulfilled is
  no longer (``partial`` or null, ``closed_at`` null again: it is to ship).
"""

from __future__ import annotations

from typing import Any, Protocol

from simulators.marketplace.clock import fmt
from simulators.marketplace.market import Market


class ShopifyStore(Protocol):
    """What of admin.ShopifyStore this module reads and writes (a protocol: admin.py
    imports this module, not the other way round)."""

    market: Market
    fulfillments: dict[int, list[dict[str, Any]]]
    fo_done: set[int]
    fo_sent: dict[int, int]
    fulfilled_units: dict[int, list[tuple[int, int, int]]]

    def fulfillment_orders_of(self, domain: str, order_id: int) -> list[dict[str, Any]]: ...


def line_units(store: ShopifyStore, fos: list[dict[str, Any]]) -> dict[int, int]:
    """Order line item id -> units fulfilled so far, over the order's fulfillment orders."""
    out: dict[int, int] = {}
    for fo in fos:
        for li in fo["line_items"]:
            lid = int(li["line_item_id"])
            out[lid] = out.get(lid, 0) + store.fo_sent.get(int(li["id"]), 0)
    return out


def record(
    store: ShopifyStore,
    order_id: int,
    fos: list[dict[str, Any]],
    action: str,
    tracking: tuple[str, str] = ("", ""),
) -> None:
    """The order's new version after a fulfillment (``tracking``: its number and company) or
    its cancel: each line's units sent; the trade shipped when every fulfillment order is
    closed, waiting to ship again when it was shipped and no longer is."""
    m = store.market
    trade = m.trades[order_id][-1].trade
    sent = line_units(store, fos)
    lines = [
        {**ln, "shopify_fulfilled": sent.get(int(ln["oid"]), 0)} for ln in trade["orders"]["order"]
    ]
    if all(int(fo["id"]) in store.fo_done for fo in fos):
        # Every fulfillment order fulfilled: the order is (as market.ship, without its one
        # confirmation per order: those are per fulfillment order here).
        m.change(
            order_id,
            "ship",
            status="WAIT_BUYER_CONFIRM_GOODS",
            consign_time=fmt(m.now),
            orders={"order": lines},
        )
        m.shipments[order_id] = {"out_sid": tracking[0], "company_code": tracking[1]}
    elif trade["status"] == "WAIT_BUYER_CONFIRM_GOODS":
        m.change(order_id, action, status="WAIT_SELLER_SEND_GOODS", orders={"order": lines})
        m.shipments.pop(order_id, None)
    else:
        m.change(order_id, action, orders={"order": lines})


class CancelRefused(Exception):
    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(str(errors))
        self.status, self.errors = status, errors


def cancel(store: ShopifyStore, domain: str, fulfillment_id: int) -> dict[str, Any]:
    """``POST fulfillments/{id}/cancel.json``: the fulfillment ``cancelled``, its units back
    to be sent. 404 for a fulfillment not of the shop; 422 for one cancelled already."""
    found = None
    for order_id, made in store.fulfillments.items():
        for f in made:
            if int(f["id"]) == fulfillment_id:
                found = (order_id, f)
    if found is None:
        raise CancelRefused(404, "Not Found")
    order_id, f = found
    versions = store.market.trades.get(order_id)
    if not versions or versions[0].trade["seller_nick"] != domain:
        raise CancelRefused(404, "Not Found")
    if f["status"] == "cancelled":
        # The wording is ours: Shopify refuses to cancel a cancelled fulfillment.
        raise CancelRefused(422, [f"Fulfillment {fulfillment_id} is already cancelled."])
    if versions[-1].trade["status"] not in ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS"):
        raise CancelRefused(
            422, [f"Order {order_id} is closed: its fulfillments stay as they are."]
        )
    for fo_id, li_id, q in store.fulfilled_units.get(fulfillment_id, []):
        store.fo_sent[li_id] = max(0, store.fo_sent.get(li_id, 0) - q)
        store.fo_done.discard(fo_id)
    f["status"] = "cancelled"
    # The order's fulfillment orders as they are after the cancel (the trade still shipped
    # here: read them as of before, open or in progress by fo_sent once it is not).
    fos = store.fulfillment_orders_of(domain, order_id)
    record(store, order_id, fos, "unfulfil")
    return dict(f)
