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

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import ChannelOrder, ChannelShipment, SalesOrder


def on_shipped(session: Session, o: SalesOrder, now: datetime) -> None:
    link = session.execute(
        select(ChannelOrder.shop_id, ChannelOrder.external_id).where(
            ChannelOrder.order_id == o.id, ChannelOrder.account_id == o.account_id
        )
    ).first()
    if link is None and o.split_from is not None:
        # A split half (a trade Shopify split: cloud/channels/sold_at.py, or a person's
        # split): confirmed to the trade of the order it was split from, with its own lines.
        link = session.execute(
            select(ChannelOrder.shop_id, ChannelOrder.external_id)
            .join(SalesOrder, SalesOrder.id == ChannelOrder.order_id)
            .where(
                SalesOrder.account_id == o.account_id,
                SalesOrder.order_no == o.split_from,
                ChannelOrder.account_id == o.account_id,
            )
        ).first()
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
