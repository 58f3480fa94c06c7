"""/orders: arrival, the audit steps, release, shipping, holds, reversals, split and merge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import orders, reversals
from cloud.api.deps import (
    OrdersAudit,
    OrdersRead,
    OrdersShip,
    OrdersWrite,
    SessionDep,
)
from cloud.api.schemas import (
    DecisionOut,
    HoldIn,
    LogOut,
    MergeIn,
    NoteIn,
    OrderDetail,
    OrderLineOut,
    OrderOut,
    OrdersIn,
    ReasonIn,
    ReleaseIn,
    SplitIn,
)
from cloud.models import SalesOrder, Warehouse
from cloud.orders import OrderPatch, Status

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


def _outs(session: Session, rows: list[SalesOrder]) -> list[OrderOut]:
    if not rows:
        return []
    whs = dict(
        session.execute(
            select(Warehouse.id, Warehouse.code).where(
                Warehouse.id.in_({o.warehouse_id for o in rows})
            )
        ).all()
    )
    lines = orders.lines_of(session, [o.id for o in rows])
    return [
        OrderOut.model_validate(
            {
                **{c.key: getattr(o, c.key) for c in SalesOrder.__table__.columns},
                "warehouse": whs[o.warehouse_id],
                "lines": [
                    OrderLineOut.model_validate(ln, from_attributes=True) for ln in lines[o.id]
                ],
            }
        )
        for o in rows
    ]


def _detail(session: Session, account_id: int, order_no: str) -> OrderDetail:
    o = orders.get(session, account_id, order_no, lock=False)
    return OrderDetail(
        **_outs(session, [o])[0].model_dump(),
        decisions=[
            DecisionOut.model_validate(d, from_attributes=True)
            for d in orders.decisions(session, o)
        ],
        history=[
            LogOut.model_validate(h, from_attributes=True) for h in orders.history(session, o)
        ],
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: OrdersIn, session: SessionDep, who: OrdersWrite) -> list[OrderOut]:
    """Orders by API (manual, offline bank transfer): stock reserved at once, then auto-audit."""
    rows = orders.create_orders(
        session,
        who.account_id,
        body.orders,
        who.actor,
        datetime.now(UTC),
        auto_audit=body.auto_audit,
    )
    session.flush()
    fresh = list(
        session.execute(select(SalesOrder).where(SalesOrder.id.in_([o.id for o in rows]))).scalars()
    )
    order = {o.id: i for i, o in enumerate(rows)}
    return _outs(session, sorted(fresh, key=lambda o: order[o.id]))


@router.get("")
def list_orders(
    session: SessionDep,
    who: OrdersRead,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    on_hold: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=64, description="order number, buyer nick or tracking number")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[OrderOut]:
    return _outs(
        session,
        orders.search(
            session,
            who.account_id,
            status=status_,
            on_hold=on_hold,
            q=q,
            limit=limit,
            offset=offset,
        ),
    )


@router.post("/merge")
def merge(body: MergeIn, session: SessionDep, who: OrdersWrite) -> OrderDetail:
    head = orders.merge(session, who.account_id, body.order_nos, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, head.order_no)


@router.get("/{order_no}")
def get_order(order_no: str, session: SessionDep, who: OrdersRead) -> OrderDetail:
    """The order with every audit decision (which rule fired, and why) and its history."""
    return _detail(session, who.account_id, order_no)


@router.patch("/{order_no}")
def patch(order_no: str, body: OrderPatch, session: SessionDep, who: OrdersWrite) -> OrderDetail:
    orders.patch(session, who.account_id, order_no, body, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/save")
def save(order_no: str, session: SessionDep, who: OrdersAudit) -> OrderDetail:
    orders.save(session, who.account_id, order_no, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/confirm")
def confirm(order_no: str, body: NoteIn, session: SessionDep, who: OrdersAudit) -> OrderDetail:
    orders.confirm(session, who.account_id, order_no, who.actor, datetime.now(UTC), body.note)
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/audit")
def complete_audit(order_no: str, session: SessionDep, who: OrdersAudit) -> OrderDetail:
    orders.complete_audit(session, who.account_id, order_no, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/release")
def release(
    order_no: str,
    session: SessionDep,
    who: OrdersAudit,
    body: Annotated[ReleaseIn | None, Body()] = None,
) -> OrderDetail:
    """Send the audited order to its warehouse's edge nodes (order.release), optionally in a
    pick wave; a waybill number is drawn if the order has none."""
    orders.release(
        session,
        who.account_id,
        order_no,
        who.actor,
        datetime.now(UTC),
        wave=body.wave if body is not None else None,
    )
    out = _detail(session, who.account_id, order_no)
    session.commit()
    return out


@router.post("/{order_no}/hold")
def hold(order_no: str, body: HoldIn, session: SessionDep, who: OrdersWrite) -> OrderDetail:
    orders.set_hold(
        session, who.account_id, order_no, True, body.reason, who.actor, datetime.now(UTC)
    )
    out = _detail(session, who.account_id, order_no)
    session.commit()
    return out


@router.post("/{order_no}/unhold")
def unhold(order_no: str, body: NoteIn, session: SessionDep, who: OrdersAudit) -> OrderDetail:
    orders.set_hold(
        session, who.account_id, order_no, False, body.note, who.actor, datetime.now(UTC)
    )
    out = _detail(session, who.account_id, order_no)
    session.commit()
    return out


@router.post("/{order_no}/cancel")
def cancel(order_no: str, body: ReasonIn, session: SessionDep, who: OrdersWrite) -> OrderDetail:
    orders.cancel(session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC))
    out = _detail(session, who.account_id, order_no)
    session.commit()
    return out


@router.post("/{order_no}/ship")
def ship(order_no: str, session: SessionDep, who: OrdersShip) -> OrderDetail:
    orders.ship(session, who.account_id, order_no, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/reject")
def reject(order_no: str, body: ReasonIn, session: SessionDep, who: OrdersAudit) -> OrderDetail:
    """驳回: back to the audit with a reason (e.g. 仓库有误, wrong warehouse)."""
    reversals.reject(session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/cancel-outbound")
def cancel_outbound(
    order_no: str, body: ReasonIn, session: SessionDep, who: OrdersAudit
) -> OrderDetail:
    """撤销出库: withdraw a released, unshipped order from the warehouse."""
    reversals.cancel_outbound(
        session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC)
    )
    out = _detail(session, who.account_id, order_no)
    session.commit()
    return out


@router.post("/{order_no}/reverse-outbound")
def reverse_outbound(
    order_no: str, body: ReasonIn, session: SessionDep, who: OrdersShip
) -> OrderDetail:
    """冲销出库: reverse a shipped order's posted outbound; stock comes back."""
    reversals.reverse_outbound(
        session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC)
    )
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/split")
def split(order_no: str, body: SplitIn, session: SessionDep, who: OrdersWrite) -> OrderDetail:
    """拆单: the given line quantities move to a new order ``{order_no}-S{n}``."""
    take: dict[str, int] = {}
    for ln in body.lines:
        take[ln.line_id] = take.get(ln.line_id, 0) + ln.qty
    child = orders.split(session, who.account_id, order_no, take, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, child.order_no)
