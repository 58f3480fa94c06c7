"""A shop's stock policy (safety stock, share) and what was pushed to it: the API's and the
CLI's side of the stock push (cloud/channels/stock_push.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.channels.shops import shop_by_code
from cloud.channels.stock_push import mark_all
from cloud.db.channel_stock import (
    ChannelShopLocation,
    ChannelStockItem,
    ChannelStockLocation,
    ChannelStockPolicy,
)
from cloud.errors import N_, ConflictError, InvalidError


def set_policy(
    session: Session,
    account_id: int,
    code: str,
    *,
    enabled: bool,
    safety_stock: int,
    share_pct: int,
    now: datetime,
) -> ChannelStockPolicy:
    """Turn a shop's push on or off and set what it is shown; every SKU then owes a push."""
    shop = shop_by_code(session, account_id, code)
    if not 0 <= share_pct <= 100:
        raise InvalidError(N_("the share is a percentage from 0 to 100"), "share_pct")
    if safety_stock < 0:
        raise InvalidError(N_("the safety stock cannot be below 0"), "safety_stock")
    row = session.get(ChannelStockPolicy, shop.id)
    if row is None:
        row = ChannelStockPolicy(shop_id=shop.id, account_id=account_id)
        session.add(row)
    row.enabled, row.safety_stock, row.share_pct, row.updated_at = (
        enabled,
        safety_stock,
        share_pct,
        now,
    )
    session.flush()
    if enabled:
        mark_all(session, account_id, shop.id)
    return row


def policy_of(session: Session, account_id: int, code: str) -> dict[str, Any]:
    shop = shop_by_code(session, account_id, code)
    row = session.get(ChannelStockPolicy, shop.id)
    if row is None:
        return {"enabled": False, "safety_stock": 0, "share_pct": 100}
    return {"enabled": row.enabled, "safety_stock": row.safety_stock, "share_pct": row.share_pct}


def push_all(session: Session, account_id: int, code: str) -> int:
    """\"Push now\": every SKU of the shop owes a push; how many rows were marked."""
    shop = shop_by_code(session, account_id, code)
    row = session.get(ChannelStockPolicy, shop.id)
    if row is None or not row.enabled:
        raise ConflictError(N_("stock push is off for shop %(code)s"), code=code)
    mark_all(session, account_id, shop.id)
    return int(
        session.execute(
            select(func.count()).where(ChannelStockItem.shop_id == shop.id, ChannelStockItem.dirty)
        ).scalar_one()
    )


def items(
    session: Session, account_id: int, code: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Per SKU: what we last pushed, the channel's quantity, state and error; for a Shopify
    shop with mapped locations, the same per location (``locations``: each mapped
    location's last figure shown and the shop's quantity there, from
    ``channel_stock_location``; docs/channels.md "Several Shopify locations")."""
    shop = shop_by_code(session, account_id, code)
    rows = list(
        session.execute(
            select(ChannelStockItem)
            .where(ChannelStockItem.account_id == account_id, ChannelStockItem.shop_id == shop.id)
            .order_by(ChannelStockItem.sku_code)
            .limit(limit)
            .offset(offset)
        ).scalars()
    )
    at: dict[int, list[dict[str, Any]]] = {}
    if rows:
        found = session.execute(
            select(ChannelStockLocation, ChannelShopLocation)
            .join(
                ChannelShopLocation,
                (ChannelShopLocation.shop_id == shop.id)
                & (ChannelShopLocation.location_id == ChannelStockLocation.location_id),
            )
            .where(ChannelStockLocation.item_id.in_([r.id for r in rows]))
            .order_by(ChannelShopLocation.warehouse)
        ).all()
        for state, place in found:
            at.setdefault(state.item_id, []).append(
                {
                    "location_id": state.location_id,
                    "location_name": place.location_name,
                    "warehouse": place.warehouse,
                    "pushed": state.target,
                    "channel_quantity": state.channel_qty,
                }
            )
    return [
        {
            "sku_code": r.sku_code,
            "state": r.state,
            "dirty": r.dirty,
            "pushed": r.target,
            "channel_quantity": r.channel_qty,
            "pushed_at": r.pushed_at,
            "error": r.error,
            "listing": {"num_iid": r.num_iid, "sku_id": r.sku_id} if r.num_iid else None,
            "locations": at.get(r.id, []),
        }
        for r in rows
    ]
