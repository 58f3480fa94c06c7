"""What the API and the dashboard read of a shop's later life (docs/channels.md): its refunds,
the changes that reached our orders, its SKU mapping and its last daily diff. One query each,
so /api/v1/channels and /web/channels show the same rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.channel_changes import ChannelChange, ChannelRefund, ChannelSkuMap
from cloud.db.channel_diff import ChannelDiff
from cloud.db.models import ChannelShop, SalesOrder
from cloud.db.waybills import Waybill, WaybillSource


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


#: The states of a waybill row (cloud/db/waybills.py), in the order the page shows them.
WAYBILL_STATES = ("pending", "drawn", "cancel", "cancelled", "void", "failed")


def waybill_summary(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Per courier: its e-waybill source (shop, ``cp_code``) and how many of its draws are in
    each state, and how many numbers the courier issued to us in all (drawn, to give back or
    given back). Couriers with a source and no draw yet are listed with zeros."""
    out: dict[str, dict[str, Any]] = {}
    sources = session.execute(
        select(WaybillSource.carrier, WaybillSource.cp_code, ChannelShop.code)
        .join(ChannelShop, ChannelShop.id == WaybillSource.shop_id)
        .where(WaybillSource.account_id == account_id)
    ).all()
    for carrier, cp_code, shop in sources:
        out[carrier] = {"carrier": carrier, "cp_code": cp_code, "shop": shop}
    counts = session.execute(
        select(Waybill.carrier, Waybill.state, func.count(), func.count(Waybill.waybill_code))
        .where(Waybill.account_id == account_id)
        .group_by(Waybill.carrier, Waybill.state)
    ).all()
    for carrier, state, n, numbered in counts:
        row = out.setdefault(carrier, {"carrier": carrier, "cp_code": None, "shop": None})
        row[state] = row.get(state, 0) + n
        row["issued"] = row.get("issued", 0) + (numbered if state != "pending" else 0)
    for row in out.values():
        for state in (*WAYBILL_STATES, "issued"):
            row.setdefault(state, 0)
    return [out[c] for c in sorted(out)]


def waybill_failures(
    session: Session, account_id: int, limit: int
) -> list[tuple[Waybill, str | None]]:
    """The draws the courier refused (the order is held with the reason), newest first, each
    with its order's number."""
    return [
        (w, no)
        for w, no in session.execute(
            select(Waybill, SalesOrder.order_no)
            .join(SalesOrder, SalesOrder.id == Waybill.order_id, isouter=True)
            .where(Waybill.account_id == account_id, Waybill.state == "failed")
            .order_by(Waybill.created_at.desc(), Waybill.id.desc())
            .limit(limit)
        ).all()
    ]
