"""Setting a shop's SKU mapping (``outer_sku_id`` → our SKU code), and trying again the trades
of that shop held because a line's SKU was not ours: each becomes an order once (the intake's
unique order number and ``channel_order.order_id``, under the rows' locks), never twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.channels import changes, intake
from cloud.channels.ports import ChannelTrade
from cloud.channels.taobao.orders import CLOSED, PAID
from cloud.db.channel_changes import ChannelSkuMap
from cloud.db.models import ChannelOrder, ChannelShop, Sku
from cloud.errors import N_, InvalidError


@dataclass
class Mapped:
    outer_sku_id: str
    sku_code: str
    retried: int
    imported: int
    held: int


def map_sku(
    session: Session, shop: ChannelShop, outer: str, sku_code: str, actor: str, now: datetime
) -> Mapped:
    outer = intake.clean(outer, 200)
    if not outer or len(outer) > 120:
        raise InvalidError(N_("outer_sku_id must be 1 to 120 characters"), "outer_sku_id")
    if (
        session.execute(
            select(Sku.sku_code).where(Sku.account_id == shop.account_id, Sku.sku_code == sku_code)
        ).scalar_one_or_none()
        is None
    ):
        raise InvalidError(N_("no SKU %(sku)s in the catalogue"), "sku_code", sku=sku_code)
    row = session.get(ChannelSkuMap, (shop.id, outer))
    if row is None:
        session.add(
            ChannelSkuMap(
                account_id=shop.account_id,
                shop_id=shop.id,
                outer_sku_id=outer,
                sku_code=sku_code,
                changed_at=now,
                changed_by=actor[:64],
            )
        )
    else:
        row.sku_code, row.changed_at, row.changed_by = sku_code, now, actor[:64]
    session.flush()
    retried, imported, held = retry_held(session, shop, now)
    return Mapped(outer, sku_code, retried, imported, held)


def retry_held(
    session: Session, shop: ChannelShop, now: datetime, held_for: str = intake.UNMAPPED
) -> tuple[int, int, int]:
    """The shop's trades held for an unknown SKU (``held_for``: the hold's beginning; a
    Shopify location no warehouse is mapped to: sold_at.py), tried again as they are stored
    (the rows locked, so two requests at once import each once). Returns (tried, imported,
    held)."""
    rows = list(
        session.execute(
            select(ChannelOrder)
            .where(
                ChannelOrder.shop_id == shop.id,
                ChannelOrder.state == "held",
                ChannelOrder.order_id.is_(None),
                ChannelOrder.hold_reason.like(f"{held_for} %"),
            )
            .order_by(ChannelOrder.id)
            .with_for_update()
        ).scalars()
    )
    touched = [(row, _trade(row)) for row in rows]
    held = intake.import_trades(session, shop, touched, now)
    for row, t in touched:
        if row.order_id is not None:
            changes.on_trade(session, shop, row, None, t, now)
    return len(rows), sum(1 for r in rows if r.order_id is not None), held


def _trade(row: ChannelOrder) -> ChannelTrade:
    if row.trade_type == "shopify":
        # shopify/orders.py to_trade: "financial/fulfillment" or "cancelled".
        return ChannelTrade(
            external_id=row.external_id,
            modified=row.modified,
            status=row.channel_status,
            trade_type=row.trade_type,
            paid=row.channel_status == "paid/unfulfilled",
            closed=row.channel_status == "cancelled",
            payload=row.payload,
            channel="shopify",
        )
    return ChannelTrade(
        external_id=row.external_id,
        modified=row.modified,
        status=row.channel_status,
        trade_type=row.trade_type,
        paid=row.channel_status in PAID,
        closed=row.channel_status in CLOSED,
        payload=row.payload,
    )
