"""A Shopify order is reserved where Shopify sold it (docs/channels.md "Where Shopify sold it").

Shopify assigns each order's units to locations: one fulfillment order per location, each
with an ``assigned_location_id`` and the line items (and quantities) to send from there
(Admin REST "FulfillmentOrder"), and it takes the units from that location's ``available``
when the order is placed. The push per location (stock_locations.py) counts an order's
units at the warehouse the order is reserved at; reserved anywhere else, one location shows
units it no longer has and the other hides units it has. So, in a shop whose warehouses are
mapped to its locations:

- **one fulfillment order**: the order is reserved at the warehouse mapped to its location,
  whatever warehouse our own routing would have picked (Shopify's assignment wins: the
  buyer's units are already gone from that location). A lead may still change the order's
  warehouse; the shipment confirmation then moves the fulfillment order to the new
  warehouse's location before fulfilling it (shopify/shipments.py);
- **several fulfillment orders** (the order drew from two locations): one Guanjia order per
  fulfillment order, each reserved at its own warehouse and confirmed against its own
  fulfillment order. The first keeps the order's number; the others are its split halves
  (拆分), numbered and linked as the audit's split names them (``{no}-S{n}``,
  ``split_from``: cloud/orders/split_merge.py), each with the total of its own lines, and
  the first also with the order's shipping fee less its discounts (:func:`_totals`), so the
  halves' totals sum to the order's;
- **a location no warehouse is mapped to**: the order is held, with the reason, as a SKU we
  do not know is; a mapping saved for that location imports such orders at once
  (stock_locations.set_location, remap.retry_held).

- **a fulfillment order moved on Shopify's side after the import** (a merchant's move in
  the Shopify admin, seen when the order is read again): the Guanjia order of that
  fulfillment order is held with a sentence naming the new location and its warehouse
  (changes.py ``relocate``): its units may already be picked where it is, so a person
  decides: reject it and change the warehouse, or ship it from where it is (the
  confirmation then moves the fulfillment order back). Our own move (a confirmation's) is
  made when the order ships, after which nothing is held.

A shop with no mapping, or an order without fulfillment orders (read before this rule), is
imported as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cloud.orders.core import LineIn, OrderIn

#: How a hold for a location no warehouse is mapped to begins (trade_words.py reads it).
UNMAPPED_LOCATION: Final = "Shopify location"
#: Fulfillment order states whose units are still to be sent (Admin REST "FulfillmentOrder"
#: ``status``); closed, cancelled and incomplete ones hold nothing to send.
ACTIVE: Final = frozenset({"open", "in_progress", "scheduled", "on_hold"})


class Unrouted(ValueError):
    """A fulfillment order's location maps to no warehouse (a sentence for a person)."""


@dataclass(frozen=True)
class Part:
    fulfillment_order_id: str
    location_id: str
    warehouse: str
    #: Shopify line item id -> quantity, as the fulfillment order has them.
    lines: dict[str, int]


def fulfillment_orders(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The active fulfillment orders the download stored with the trade (shopify/orders.py)."""
    shopify = payload.get("shopify")
    fos = shopify.get("fulfillment_orders") if isinstance(shopify, dict) else None
    return [
        fo
        for fo in (fos if isinstance(fos, list) else [])
        if isinstance(fo, dict) and fo.get("status") in ACTIVE
    ]


def parts(payload: dict[str, Any], located: dict[str, str]) -> list[Part] | None:
    """The trade's fulfillment orders, each with its warehouse; ``located``: location id ->
    our warehouse code (the shop's mapping). None when the rule does not apply (no mapping,
    no fulfillment orders stored); :class:`Unrouted` for a location not mapped."""
    fos = fulfillment_orders(payload)
    if not located or not fos:
        return None
    out = []
    for fo in fos:
        location = str(fo.get("location_id"))
        warehouse = located.get(location)
        if warehouse is None:
            raise Unrouted(f"{UNMAPPED_LOCATION} {location} is not mapped to a warehouse")
        lines = fo.get("lines") if isinstance(fo.get("lines"), dict) else {}
        assert isinstance(lines, dict)
        out.append(
            Part(
                str(fo.get("id")),
                location,
                warehouse,
                {str(k): int(v) for k, v in lines.items() if int(v) > 0},
            )
        )
    return out


def split_bodies(body: OrderIn, routed: list[Part]) -> list[OrderIn]:
    """The Guanjia orders the trade becomes: one per fulfillment order, at its warehouse.

    Every unit of the trade is in exactly one of them: a line's units follow the quantities
    of the fulfillment orders holding it, and what no fulfillment order names (cannot be so
    for a paid order; nothing is dropped if it is) stays in the first."""
    if len(routed) == 1:
        return [body.model_copy(update={"warehouse": routed[0].warehouse})]
    left = {ln.line_id: ln.qty for ln in body.lines}
    by_part: list[list[LineIn]] = []
    for part in routed:
        mine = []
        for ln in body.lines:
            q = min(part.lines.get(ln.line_id, 0), left[ln.line_id])
            if q > 0:
                mine.append(ln.model_copy(update={"qty": q}))
                left[ln.line_id] -= q
        by_part.append(mine)
    for ln in body.lines:
        if left[ln.line_id] > 0:
            have = next((x for x in by_part[0] if x.line_id == ln.line_id), None)
            if have is None:
                by_part[0].append(ln.model_copy(update={"qty": left[ln.line_id]}))
            else:
                by_part[0][by_part[0].index(have)] = have.model_copy(
                    update={"qty": have.qty + left[ln.line_id]}
                )
    kept = [(part, lines) for part, lines in zip(routed, by_part, strict=True) if lines]
    totals = _totals(body, [lines for _, lines in kept])
    return [
        body.model_copy(
            update={
                "order_no": body.order_no if not n else f"{body.order_no}-S{n}",
                "warehouse": part.warehouse,
                "lines": lines,
                "total_cents": total,
            }
        )
        for n, ((part, lines), total) in enumerate(zip(kept, totals, strict=True))
    ]


def _totals(body: OrderIn, halves: list[list[LineIn]]) -> list[int]:
    """Each half's total: its own lines, and the first (``{no}``) also what the order's
    total has beyond its lines — the shipping fee less the order's discounts (plus its tax
    where prices exclude it), as Shopify's ``total_price`` has them (Admin REST "Order":
    ``total_price`` = ``total_line_items_price`` − ``total_discounts`` + shipping +
    ``total_tax``). So the halves sum to the order's total, to the cent. A discount larger
    than the first half's lines and shipping takes the rest from the next halves in order,
    none below zero (the sum still holds for any total of zero or more)."""
    own = [sum(ln.price_cents * ln.qty for ln in lines) for lines in halves]
    if body.total_cents is None or not own:
        return own
    extra = body.total_cents - sum(own)
    out = list(own)
    for i in range(len(out)):
        moved = extra if extra >= 0 or i == len(out) - 1 else max(extra, -out[i])
        out[i] += moved
        extra -= moved
        if extra == 0:
            break
    return out


def moved(
    before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, str, str, dict[str, int]]]:
    """The active fulfillment orders whose location changed between two stored versions of
    a trade: (id, old location, new location, its lines).

    A fulfillment order some units of which were fulfilled is moved in part: its units left
    go into a new fulfillment order at the new location, and it stays where it was with
    what was fulfilled, closed (Admin GraphQL "fulfillmentOrderMove": fulfilled line items
    "will always remain assigned to the original location"; "FulfillmentOrderMovePayload").
    So a fulfillment order new in ``after`` whose lines were all in one that was active in
    ``before`` and is not now, at another location, is that one's units moved: (the new
    one's id, the old one's location, the new location, the new one's lines)."""
    before_fos = fulfillment_orders(before)
    was = {str(fo.get("id")): str(fo.get("location_id")) for fo in before_fos}
    active = fulfillment_orders(after)
    still = {str(fo.get("id")) for fo in active}
    gone = [fo for fo in before_fos if str(fo.get("id")) not in still]
    out = []
    for fo in active:
        fo_id, now_at = str(fo.get("id")), str(fo.get("location_id"))
        lines = _lines(fo)
        if fo_id in was:
            if was[fo_id] != now_at:
                out.append((fo_id, was[fo_id], now_at, lines))
            continue
        source = next(
            (
                old
                for old in gone
                if lines
                and str(old.get("location_id")) != now_at
                and all(_lines(old).get(k, 0) >= q for k, q in lines.items())
            ),
            None,
        )
        if source is not None:
            out.append((fo_id, str(source.get("location_id")), now_at, lines))
    return out


def _lines(fo: dict[str, Any]) -> dict[str, int]:
    lines = fo.get("lines") if isinstance(fo.get("lines"), dict) else {}
    assert isinstance(lines, dict)
    return {str(k): int(v) for k, v in lines.items()}
