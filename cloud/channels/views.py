"""What the API and the dashboard read of a shop's later life (docs/channels.md): its refunds,
the changes that reached our orders, its SKU mapping and its last daily diff. One query each,
so /api/v1/channels and /web/channels show the same rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.channel_changes import ChannelChange, ChannelRefund, ChannelSkuMap
from cloud.db.channel_diff import ChannelDiff
from cloud.db.models import ChannelShop, SalesOrder


def refunds(session: Session, shop_id: int, limit: int) -> list[ChannelRefund]:
    """The shop's refunds, newest ``modified`` first."""
    return list(
        session.execute(
            select(ChannelRefund)
            .where(ChannelRefund.shop_id == shop_id)
            .order_by(ChannelRefund.modified.desc(), ChannelRefund.id.desc())
            .limit(limit)
        ).scalars()
    )


def changes(
    session: Session,
    account_id: int,
    *,
    shop: str | None = None,
    outcome: str | None = None,
    limit: int = 100,
) -> list[tuple[ChannelChange, str, str | None]]:
    """Changes on the channel that reached our orders, newest first, each with its shop's
    code and the order's number (none when the change found no order)."""
    q = (
        select(ChannelChange, ChannelShop.code, SalesOrder.order_no)
        .join(ChannelShop, ChannelShop.id == ChannelChange.shop_id)
        .outerjoin(SalesOrder, SalesOrder.id == ChannelChange.order_id)
        .where(ChannelChange.account_id == account_id)
        .order_by(ChannelChange.at.desc(), ChannelChange.id.desc())
        .limit(limit)
    )
    if shop is not None:
        q = q.where(ChannelShop.code == shop)
    if outcome is not None:
        q = q.where(ChannelChange.outcome == outcome)
    return [(c, code, no) for c, code, no in session.execute(q).all()]


def sku_maps(session: Session, shop_id: int) -> list[ChannelSkuMap]:
    return list(
        session.execute(
            select(ChannelSkuMap)
            .where(ChannelSkuMap.shop_id == shop_id)
            .order_by(ChannelSkuMap.outer_sku_id)
        ).scalars()
    )


def last_diff(session: Session, shop_id: int) -> dict[str, Any] | None:
    """The daily diff's state: when it last ran, what it found (0 expected), when it runs next."""
    row = session.get(ChannelDiff, shop_id)
    if row is None:
        return None
    return {
        "last_diff_at": row.last_diff_at,
        "next_diff_at": row.next_diff_at,
        "last_found": row.last_found,
        "found_total": row.found_total,
        "last_outcome": row.last_outcome,
    }
