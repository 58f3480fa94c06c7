"""Which sub-orders a parcel of a split Taobao trade confirms (拆单发货).

A person may split a downloaded trade into several orders (拆分, cloud/orders/split_merge.py:
the order that kept the trade's number and its halves ``{no}-S1``…, each line keeping its
``oid``). Each ships as its own parcel, and Taobao takes each parcel with ``is_split=1`` and
``sub_tid``, the sub-orders it carries (``taobao.logistics.offline.send``; the trade is
``SELLER_CONSIGNED_PART`` until all have shipped). Taobao ships whole sub-orders, not units,
so a sub-order whose units went to two orders is confirmed once, by the first parcel sent
after every order holding it has shipped (or been cancelled); a parcel sent earlier leaves
it out. What a parcel confirmed is kept on its row (``channel_shipment.sub_tids``) when it
is first sent: a retry sends the same part, and later parcels leave out what it took.

A trade never split ships whole, as before (None here). Shopify's halves split by location
confirm their fulfillment orders, and the parts of a Shopify trade a person split the units
each carries (cloud/channels/shopify/shipments.py), not through this module (``is_split``
says they are parts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import ChannelOrder, ChannelShipment, SalesOrder, SalesOrderLine

#: Statuses of an order that will not ship (any more) and so confirms nothing later.
NOT_SHIPPING = frozenset({"cancelled"})


def _family(session: Session, account_id: int, root_no: str) -> list[SalesOrder]:
    """The order that kept the trade's number and every order split off it, transitively."""
    out: list[SalesOrder] = []
    todo, seen = [root_no], set()
    while todo:
        rows = list(
            session.execute(
                select(SalesOrder).where(
                    SalesOrder.account_id == account_id,
                    (SalesOrder.order_no.in_(todo)) | (SalesOrder.split_from.in_(todo)),
                )
            ).scalars()
        )
        seen.update(todo)
        out.extend(r for r in rows if r not in out)
        todo = [r.order_no for r in rows if r.order_no not in seen]
    return out


def is_split(session: Session, shop_id: int, external_id: str) -> bool:
    """Whether the trade's order was split into several orders (by a person, or by
    location), each shipping its own parcel."""
    link = session.execute(
        select(ChannelOrder.order_id, ChannelOrder.account_id).where(
            ChannelOrder.shop_id == shop_id, ChannelOrder.external_id == external_id
        )
    ).first()
    if link is None or link.order_id is None:
        return False
    root = session.get(SalesOrder, link.order_id)
    return root is not None and len(_family(session, link.account_id, root.order_no)) > 1


def _trade_oids(payload: Any) -> set[str]:
    orders = payload.get("orders") if isinstance(payload, dict) else None
    rows = orders.get("order") if isinstance(orders, dict) else None
    return {str(r["oid"]) for r in rows or [] if isinstance(r, dict) and r.get("oid") is not None}


def part_of(
    session: Session, shop_id: int, external_id: str, order_id: str, shipment_id: int
) -> dict[str, int] | None:
    """The sub-orders (oid → units) the parcel of order ``order_id`` (its confirmation row
    ``shipment_id``) confirms, when its trade was split among several orders; None when the
    trade ships whole. An empty dict: every sub-order it carries goes with another parcel."""
    kept = session.execute(
        select(ChannelShipment.sub_tids).where(ChannelShipment.id == shipment_id)
    ).scalar_one_or_none()
    link = session.execute(
        select(ChannelOrder.order_id, ChannelOrder.payload, ChannelOrder.account_id).where(
            ChannelOrder.shop_id == shop_id, ChannelOrder.external_id == external_id
        )
    ).first()
    if link is None or link.order_id is None:
        return None
    root = session.get(SalesOrder, link.order_id)
    if root is None:
        return None
    family = _family(session, link.account_id, root.order_no)
    if len(family) < 2:
        return None
    held: dict[str, list[tuple[str, int]]] = {}  # oid → [(order id, units)]
    oids = _trade_oids(link.payload)
    for order_id_, line_id, qty in session.execute(
        select(SalesOrderLine.order_id, SalesOrderLine.line_id, SalesOrderLine.qty).where(
            SalesOrderLine.order_id.in_([o.id for o in family]), SalesOrderLine.gift.is_(False)
        )
    ).all():
        if line_id in oids:
            held.setdefault(line_id, []).append((order_id_, int(qty)))
    if kept is not None:  # decided when first sent: the same part again
        return {oid: sum(q for i, q in held.get(oid, []) if i == order_id) for oid in split(kept)}
    taken = {
        oid
        for (sub,) in session.execute(
            select(ChannelShipment.sub_tids).where(
                ChannelShipment.shop_id == shop_id,
                ChannelShipment.external_id == external_id,
                ChannelShipment.id != shipment_id,
                ChannelShipment.sub_tids.is_not(None),
            )
        ).all()
        for oid in split(sub or "")
    }
    by_id = {o.id: o for o in family}
    part: dict[str, int] = {}
    for oid, holders in held.items():
        mine = sum(q for i, q in holders if i == order_id)
        if not mine or oid in taken:
            continue
        if any(
            by_id[i].status not in ("shipped", *NOT_SHIPPING) for i, _ in holders if i != order_id
        ):
            continue  # another order still to ship holds some of it: the last one sends it
        part[oid] = mine
    return part


def split(text: str) -> list[str]:
    return [p for p in text.split(",") if p]


def joined(part: dict[str, int]) -> str:
    return ",".join(sorted(part))
