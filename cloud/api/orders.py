"""/orders: arrival, the audit steps, release, shipping, holds, reversals, split and merge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy.orm import Session

from cloud.api import order_filter
from cloud.api.deps import (
    NodesWrite,
    OrdersAudit,
    OrdersRead,
    OrdersShip,
    OrdersWrite,
    SessionDep,
)
from cloud.api.order_filter import OrderFilterDep
from cloud.api.responses import JsonRows
from cloud.api.schemas import (
    HoldIn,
    MergeIn,
    NoteIn,
    OrderDetail,
    OrderOut,
    OrderPatch,
    OrdersIn,
    PickNodeIn,
    ReasonIn,
    ReleaseIn,
    SplitIn,
)
from cloud.orders import arrival, reversals, split_merge, workflow
from cloud.orders import release as releases
from cloud.orders import views as order_views

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


def _detail(session: Session, account_id: int, order_no: str) -> Response:
    return JsonRows(order_views.detail(session, account_id, order_no))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=list[OrderOut])
def create(body: OrdersIn, session: SessionDep, who: OrdersWrite) -> Response:
    """Orders by API (manual, offline bank transfer): stock reserved at once, then auto-audit."""
    rows = arrival.create_orders(
        session,
        who.account_id,
        body.orders,
        who.actor,
        datetime.now(UTC),
        auto_audit=body.auto_audit,
    )
    return JsonRows(
        order_views.by_ids(session, [o.id for o in rows]), status_code=status.HTTP_201_CREATED
    )


@router.get("", response_model=list[OrderOut], openapi_extra=order_filter.OPENAPI)
def list_orders(
    session: SessionDep,
    who: OrdersRead,
    f: OrderFilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """Newest first. Filters: status, on_hold, channel, shop, carrier, warehouse, the day
    range it arrived or shipped in (China time); ``q`` searches (see its description)."""
    return JsonRows(order_views.page(session, who.account_id, f, limit=limit, offset=offset))


@router.post("/merge", response_model=OrderDetail)
def merge(body: MergeIn, session: SessionDep, who: OrdersWrite) -> Response:
    head = split_merge.merge(session, who.account_id, body.order_nos, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, head.order_no)


@router.get("/{order_no}", response_model=OrderDetail)
def get_order(order_no: str, session: SessionDep, who: OrdersRead) -> Response:
    """The order with every audit decision (which rule fired, and why) and its history."""
    return _detail(session, who.account_id, order_no)


@router.patch("/{order_no}", response_model=OrderDetail)
def patch(order_no: str, body: OrderPatch, session: SessionDep, who: OrdersWrite) -> Response:
    workflow.patch(session, who.account_id, order_no, body, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/save", response_model=OrderDetail)
def save(order_no: str, session: SessionDep, who: OrdersAudit) -> Response:
    workflow.save(session, who.account_id, order_no, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/confirm", response_model=OrderDetail)
def confirm(order_no: str, body: NoteIn, session: SessionDep, who: OrdersAudit) -> Response:
    workflow.confirm(session, who.account_id, order_no, who.actor, datetime.now(UTC), body.note)
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/audit", response_model=OrderDetail)
def complete_audit(order_no: str, session: SessionDep, who: OrdersAudit) -> Response:
    workflow.complete_audit(session, who.account_id, order_no, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/release", response_model=OrderDetail)
def release(
    order_no: str,
    session: SessionDep,
    who: OrdersAudit,
    body: Annotated[ReleaseIn | None, Body()] = None,
) -> Response:
    """Send the audited order to its warehouse's edge nodes (order.release), optionally in a
    pick wave; a waybill number is drawn if the order has none."""
    releases.release(
        session,
        who.account_id,
        order_no,
        who.actor,
        datetime.now(UTC),
        wave=body.wave if body is not None else None,
        pick_node=body.pick_node if body is not None else None,
    )
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/pick-node", response_model=OrderDetail)
def move_pick_node(
    order_no: str, body: PickNodeIn, session: SessionDep, who: NodesWrite
) -> Response:
    """Lease the order's pick to another pick node of its warehouse (its holder died)."""
    releases.move(session, who.account_id, order_no, body, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/hold", response_model=OrderDetail)
def hold(order_no: str, body: HoldIn, session: SessionDep, who: OrdersWrite) -> Response:
    workflow.set_hold(
        session, who.account_id, order_no, True, body.reason, who.actor, datetime.now(UTC)
    )
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/unhold", response_model=OrderDetail)
def unhold(order_no: str, body: NoteIn, session: SessionDep, who: OrdersAudit) -> Response:
    workflow.set_hold(
        session, who.account_id, order_no, False, body.note, who.actor, datetime.now(UTC)
    )
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/cancel", response_model=OrderDetail)
def cancel(order_no: str, body: ReasonIn, session: SessionDep, who: OrdersWrite) -> Response:
    workflow.cancel(session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/ship", response_model=OrderDetail)
def ship(order_no: str, session: SessionDep, who: OrdersShip) -> Response:
    workflow.ship(session, who.account_id, order_no, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/reject", response_model=OrderDetail)
def reject(order_no: str, body: ReasonIn, session: SessionDep, who: OrdersAudit) -> Response:
    """驳回: back to the audit with a reason (e.g. 仓库有误, wrong warehouse)."""
    reversals.reject(session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/cancel-outbound", response_model=OrderDetail)
def cancel_outbound(
    order_no: str, body: ReasonIn, session: SessionDep, who: OrdersAudit
) -> Response:
    """撤销出库: withdraw a released, unshipped order from the warehouse."""
    reversals.cancel_outbound(
        session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC)
    )
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/reverse-outbound", response_model=OrderDetail)
def reverse_outbound(
    order_no: str, body: ReasonIn, session: SessionDep, who: OrdersShip
) -> Response:
    """冲销出库: reverse a shipped order's posted outbound; stock comes back."""
    reversals.reverse_outbound(
        session, who.account_id, order_no, body.reason, who.actor, datetime.now(UTC)
    )
    return _detail(session, who.account_id, order_no)


@router.post("/{order_no}/split", response_model=OrderDetail)
def split(order_no: str, body: SplitIn, session: SessionDep, who: OrdersWrite) -> Response:
    """拆单: the given line quantities move to a new order ``{order_no}-S{n}``."""
    take: dict[str, int] = {}
    for ln in body.lines:
        take[ln.line_id] = take.get(ln.line_id, 0) + ln.qty
    child = split_merge.split(session, who.account_id, order_no, take, who.actor, datetime.now(UTC))
    return _detail(session, who.account_id, child.order_no)
