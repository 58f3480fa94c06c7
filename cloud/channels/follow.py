"""A Shopify location mapped to a warehouse after orders were held for it (docs/channels.md
"Where Shopify sold it", rule 6).

A fulfillment order moved to a location no warehouse is mapped to holds its order where it
is ("Shopify moved fulfillment order … to …, which is not mapped to a warehouse":
changes.py ``relocate``). When the seller then maps that location (stock_locations.py
``set_location``: the page, the API and the CLI), those orders follow now, in the mapping's
transaction, as they would have at the move: to the warehouse with their reservation
(workflow.move_warehouse, all or nothing), the hold lifted; an order that cannot follow
(the warehouse cannot reserve it, it is released to a node already) keeps a hold saying
why, in place of the one for the unmapped location. Trades held before they became orders
are imported by ``remap.retry_held`` as before.

Only the orders still held for that move are touched: of this shop, whose fulfillment
order still stands at that location (as the trade's stored version says), held with that
very sentence. Each once: the change's key names the held change it ends
(``mapped:<change id>``), and an order so followed is held for it no more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.channels import changes, sold_at
from cloud.db.channel_changes import ChannelChange
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder
from cloud.errors import english
from cloud.tasks import sentence


def held_for(
    session: Session, shop: ChannelShop, location: str, warehouse: str, now: datetime
) -> int:
    """The shop's orders held because a fulfillment order moved to ``location``, now mapped
    to our ``warehouse``: each follows it or is held with the reason it cannot. Returns how
    many were looked at."""
    rows = session.execute(
        select(ChannelChange)
        .where(
            ChannelChange.shop_id == shop.id,
            ChannelChange.kind == "location",
            ChannelChange.outcome == "held",
            ChannelChange.message == changes.UNMAPPED_MOVE,
        )
        .order_by(ChannelChange.id)
    ).scalars()
    looked = 0
    for change in list(rows):
        params = change.params or {}
        if str(params.get("new")) != location or change.order_id is None:
            continue
        fo_id, old = str(params.get("fo")), str(params.get("old"))
        o = session.execute(
            select(SalesOrder).where(SalesOrder.id == change.order_id).with_for_update()
        ).scalar_one_or_none()
        said = english(sentence(changes.UNMAPPED_MOVE, fo=fo_id, old=old, new=location)) or ""
        if o is None or not o.on_hold or not (o.hold_reason or "").startswith(said):
            continue  # followed since, moved on, or a person lifted the hold: not ours now
        trade = session.execute(
            select(ChannelOrder)
            .where(ChannelOrder.shop_id == shop.id, ChannelOrder.external_id == change.external_id)
            .with_for_update()
        ).scalar_one_or_none()
        fos = sold_at.fulfillment_orders(trade.payload) if trade is not None else []
        fo = next((f for f in fos if str(f.get("id")) == fo_id), None)
        if fo is None or str(fo.get("location_id")) != location:
            continue  # the fulfillment order is elsewhere now (or closed): a later move rules
        lines = fo.get("lines") if isinstance(fo.get("lines"), dict) else {}
        assert isinstance(lines, dict)
        looked += 1
        changes.relocate(
            session,
            shop,
            change.external_id,
            [(o, "")],
            fo_id,
            old,
            location,
            warehouse,
            {str(k): int(v) for k, v in lines.items()},
            now,
            single=True,
            key=f"mapped:{change.id}",
        )
    return looked
