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

from cloud.db.models import ChannelOrder, ChannelShipment, ChannelShop, SalesOrder


def split_by_location(payload: Any) -> bool:
    """Whether a stored trade has several fulfillment orders (Shopify sold it from several
    locations: the download keeps them under ``shopify.fulfillment_orders``,
    cloud/channels/shopify/orders.py), so that each of its orders confirms its own."""
    shopify = payload.get("shopify") if isinstance(payload, dict) else None
    fos = shopify.get("fulfillment_orders") if isinstance(shopify, dict) else None
    return isinstance(fos, list) and len(fos) > 1


def on_shipped(session: Session, o: SalesOrder, now: datetime) -> None:
    link = session.execute(
        select(ChannelOrder.shop_id, ChannelOrder.external_id).where(
            ChannelOrder.order_id == o.id, ChannelOrder.account_id == o.account_id
        )
    ).first()
    above, depth = o.split_from, 0
    while link is None and above is not None and depth < 16:
        # A half of a trade Shopify split between locations (cloud/channels/sold_at.py): it
        # is confirmed to the trade, against its own fulfillment order. A half a person split
        # off a Taobao trade (at any depth: a half split again) is confirmed to the trade
        # with the sub-orders it carries (拆单发货, cloud/channels/split_shipments.py). A
        # half a person split off a Shopify trade sold from one location is not (the order
        # that kept its number confirms the fulfillment order whole: partial fulfilment of
        # one fulfillment order is not built).
        parent = session.execute(
            select(
                ChannelOrder.shop_id,
                ChannelOrder.external_id,
                ChannelOrder.payload,
                ChannelShop.platform,
                SalesOrder.split_from,
            )
            .join(SalesOrder, SalesOrder.id == ChannelOrder.order_id)
            .join(ChannelShop, ChannelShop.id == ChannelOrder.shop_id)
            .where(
                SalesOrder.account_id == o.account_id,
                SalesOrder.order_no == above,
                ChannelOrder.account_id == o.account_id,
            )
        ).first()
        if parent is not None:
            if parent.platform == "taobao" or split_by_location(parent.payload):
                link = parent
            break
        above = session.execute(
            select(SalesOrder.split_from).where(
                SalesOrder.account_id == o.account_id, SalesOrder.order_no == above
            )
        ).scalar_one_or_none()
        depth += 1
    if link is None:
        return  # not from a marketplace
    # One confirmation per order and parcel number: an order shipped, reversed and shipped
    # again with the same number is confirmed once; with a new number, once more (and the
    # marketplace's answer says whether it takes it).
    key = f"{o.id}:{o.tracking_number or '-'}"
    if session.execute(
        select(ChannelShipment.id).where(ChannelShipment.idempotency_key == key)
    ).first():
        return
    session.add(
        ChannelShipment(
            account_id=o.account_id,
            shop_id=link.shop_id,
            order_id=o.id,
            external_id=link.external_id,
            tracking_number=o.tracking_number,
            carrier=o.carrier,
            idempotency_key=key,
            state="pending" if o.tracking_number else "failed",
            error=None
            if o.tracking_number
            else "the order shipped without a parcel number: the marketplace needs one",
            attempts=0,
            next_try_at=now,
            created_at=now,
        )
    )
