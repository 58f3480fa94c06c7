"""An order from a marketplace ships: its shipment confirmation goes into the outbox
(``channel_shipment``) in the same transaction as the shipment itself, so it is neither lost
(the ship committed, the confirmation not) nor sent for a ship that rolled back. The sender
(cloud/channels/shipments.py) drains it.

Here, not in cloud.channels: every way an order ships (the ship action, the order.shipped
fact from a node) goes through ``core.log``, and the orders layer sits below the channels
layer (pyproject.toml, cloud-layers). This writes a row of the database layer and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import ChannelOrder, ChannelShipment, ChannelShop, SalesOrder, SalesOrderLine


def split_by_location(payload: Any) -> bool:
    """Whether a stored trade has several fulfillment orders (Shopify sold it from several
    locations: the download keeps them under ``shopify.fulfillment_orders``,
    cloud/channels/shopify/orders.py), so that each of its orders confirms its own."""
    shopify = payload.get("shopify") if isinstance(payload, dict) else None
    fos = shopify.get("fulfillment_orders") if isinstance(shopify, dict) else None
    return isinstance(fos, list) and len(fos) > 1


def _linked_ancestor(session: Session, o: SalesOrder) -> tuple[SalesOrder, Any] | None:
    """The nearest of ``o`` and the orders it was split from (at any depth, at most 16 up)
    that a marketplace trade is linked to, with that link (shop, trade id, platform); None
    when no order of the line came from a marketplace."""
    at, depth = o, 0
    while depth <= 16:
        link = session.execute(
            select(
                ChannelOrder.shop_id,
                ChannelOrder.external_id,
                ChannelShop.platform,
            )
            .join(ChannelShop, ChannelShop.id == ChannelOrder.shop_id)
            .where(ChannelOrder.order_id == at.id, ChannelOrder.account_id == o.account_id)
        ).first()
        if link is not None:
            return at, link
        if at.split_from is None:
            return None
        parent = session.execute(
            select(SalesOrder).where(
                SalesOrder.account_id == o.account_id, SalesOrder.order_no == at.split_from
            )
        ).scalar_one_or_none()
        if parent is None:
            return None
        at, depth = parent, depth + 1
    return None


def _confirm_once(
    session: Session, o: SalesOrder, link: Any, part: SalesOrder, key: str, now: datetime
) -> None:
    """Queue the confirmation of ``part``'s parcel to ``link``'s trade, unless one with
    ``key`` is queued already (an order shipped, reversed and shipped again with the same
    number is confirmed once; with a new number, once more)."""
    if session.execute(
        select(ChannelShipment.id).where(ChannelShipment.idempotency_key == key)
    ).first():
        return
    session.add(
        ChannelShipment(
            account_id=o.account_id,
            shop_id=link.shop_id,
            order_id=part.id,
            external_id=link.external_id,
            tracking_number=part.tracking_number,
            carrier=part.carrier,
            idempotency_key=key,
            state="pending" if part.tracking_number else "failed",
            error=None
            if part.tracking_number
            else "the order shipped without a parcel number: the marketplace needs one",
            attempts=0,
            next_try_at=now,
            created_at=now,
        )
    )


def on_shipped(session: Session, o: SalesOrder, now: datetime) -> None:
    found = _linked_ancestor(session, o)
    if found is None:
        return  # not from a marketplace
    at, link = found
    # A half of a trade Shopify split between locations (cloud/channels/sold_at.py) is
    # confirmed to the trade, against its own fulfillment order. A half a person split off a
    # Taobao trade (at any depth: a half split again) is confirmed to the trade with the
    # sub-orders it carries (拆单发货, cloud/channels/split_shipments.py); off a Shopify
    # trade, with the units it carries (some units of a fulfillment order:
    # cloud/channels/shopify/shipments.py). A half of another platform's trade is not.
    if at is not o and link.platform not in ("taobao", "shopify"):
        payload = session.execute(
            select(ChannelOrder.payload).where(
                ChannelOrder.order_id == at.id, ChannelOrder.account_id == o.account_id
            )
        ).scalar_one()
        if not split_by_location(payload):
            return
    _confirm_once(session, o, link, o, f"{o.id}:{o.tracking_number or '-'}", now)


def on_cancelled(session: Session, o: SalesOrder, now: datetime) -> None:
    """A part of a Taobao trade a person split (拆单发货) was cancelled. A sub-order it shared
    with a part that shipped before is confirmed by the last holder to ship
    (cloud/channels/split_shipments.py), and the shipped part left it out while this one
    was still to ship; with this one cancelled no parcel is left to confirm it. So each
    shipped part holding a sub-order of this one confirms again, with its own parcel number:
    a row keyed by the cancelled order, whose part (what is not yet confirmed, once every
    holder has shipped or been cancelled) the sender decides when it sends it. A part that
    finds nothing left to confirm is done with that said, sending nothing."""
    found = _linked_ancestor(session, o)
    if found is None or found[1].platform != "taobao":
        return
    root, link = found
    family, todo, seen = [root], [root.order_no], {root.order_no}
    while todo:  # the parts split off the trade's order, at any depth
        rows = list(
            session.execute(
                select(SalesOrder).where(
                    SalesOrder.account_id == o.account_id, SalesOrder.split_from.in_(todo)
                )
            ).scalars()
        )
        todo = [r.order_no for r in rows if r.order_no not in seen]
        seen.update(todo)
        family.extend(r for r in rows if r not in family)
    if len(family) < 2:
        return  # never split: it ships whole or not at all
    lines: dict[str, set[str]] = {}
    for order_id, line_id in session.execute(
        select(SalesOrderLine.order_id, SalesOrderLine.line_id).where(
            SalesOrderLine.order_id.in_([f.id for f in family]), SalesOrderLine.gift.is_(False)
        )
    ).all():
        lines.setdefault(order_id, set()).add(str(line_id))
    mine = lines.get(o.id, set())
    for part in family:
        if part.id == o.id or part.status != "shipped" or not part.tracking_number:
            continue
        if mine & lines.get(part.id, set()):
            key = f"{part.id}:{part.tracking_number}:cancelled:{o.id}"
            _confirm_once(session, o, link, part, key, now)
