"""Reversals, as the source describes them (审单 "出库仓库忘记改了" and 调拨单开错了).

Each is a compensating movement or state change with its own log entry; history is
never edited:

* 驳回 reject: an order not yet at the warehouse goes back to the audit (``new``) with a
  reason, e.g. "仓库有误" (wrong warehouse).
* 撤销出库 cancel outbound: an order released but not shipped is withdrawn from the
  warehouse (its nodes get a ``cancelled`` version; picked goods go back to their bins on
  the book) and returns to ``audited``.
* 冲销出库 reverse outbound: a shipped order's outbound is reversed, stock comes back (and
  is reserved for the order again); the order returns to ``audited``.
* 取消入库 cancel receipt: a receipt is reversed (the PO's in-transit quantity reopens).

After a reject the warehouse can be changed and the order audited again
(save → confirm → audit complete).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import SalesOrder, StockMovement
from cloud.errors import N_, ConflictError, NotFoundError, sentence
from cloud.orders import core as orders
from cloud.orders import workflow
from cloud.stock.ledger import reverse_movement


def reject(
    session: Session, account_id: int, order_no: str, reason: str, actor: str, now: datetime
) -> SalesOrder:
    o = orders.get(session, account_id, order_no)
    if o.status in orders.AT_EDGE:
        raise ConflictError(
            N_(
                "order %(order)s is at the warehouse (%(status)s); cancel the outbound (撤销出库) first"
            ),
            order=order_no,
            status=o.status,
        )
    if o.status == "shipped":
        raise ConflictError(
            N_("order %(order)s is shipped; reverse the outbound (冲销出库) first"), order=order_no
        )
    if o.status in ("new", "cancelled"):
        raise ConflictError(
            N_("order %(order)s is %(status)s; there is nothing to reject"),
            order=order_no,
            status=o.status,
        )
    orders.log(session, o, "reject", "new", actor, now, reason)
    o.on_hold, o.hold_reason = False, None
    return o


def cancel_outbound(
    session: Session, account_id: int, order_no: str, reason: str, actor: str, now: datetime
) -> tuple[SalesOrder, dict[str, int]]:
    o = orders.get(session, account_id, order_no)
    if o.status == "shipped":
        raise ConflictError(
            N_("order %(order)s is shipped; reverse the outbound (冲销出库) instead"),
            order=order_no,
        )
    if o.status not in orders.AT_EDGE:
        raise ConflictError(
            N_(
                "order %(order)s is %(status)s; only a released, unshipped order has an outbound to cancel"
            ),
            order=order_no,
            status=o.status,
        )
    workflow.reverse_picks(
        session, o, sentence(N_("outbound cancelled: %(reason)s"), reason=reason), actor, now
    )
    orders.log(session, o, "cancel_outbound", "audited", actor, now, reason)
    return o, orders.send_release(session, o, now)


def reverse_outbound(
    session: Session, account_id: int, order_no: str, reason: str, actor: str, now: datetime
) -> SalesOrder:
    o = orders.get(session, account_id, order_no)
    ships = (
        session.execute(
            select(StockMovement.id)
            .where(
                StockMovement.account_id == account_id,
                StockMovement.document == orders.doc(order_no),
                StockMovement.kind == "ship",
            )
            .order_by(StockMovement.id)
        )
        .scalars()
        .all()
    )
    open_ships = [
        m
        for m in ships
        if session.execute(select(StockMovement.id).where(StockMovement.reverses_id == m)).first()
        is None
    ]
    if o.status != "shipped" or not open_ships:
        if ships and not open_ships:
            raise ConflictError(
                N_("the outbound of order %(order)s is already reversed"), order=order_no
            )
        raise ConflictError(
            N_("order %(order)s is %(status)s; only a shipped order's outbound is reversed"),
            order=order_no,
            status=o.status,
        )
    for mid in open_ships:
        reverse_movement(
            session,
            account_id,
            mid,
            sentence(N_("冲销出库: %(reason)s"), reason=reason),
            actor,
            now,
            allow_kinds=frozenset({"ship"}),
        )
    orders.log(session, o, "reverse_outbound", "audited", actor, now, reason)
    o.tracking_number = None
    return o


def cancel_receipt(
    session: Session,
    account_id: int,
    movement_id: str,
    reason: str,
    actor: str,
    now: datetime,
    *,
    override: bool = False,
) -> str:
    m = session.get(StockMovement, movement_id)
    if m is None or m.account_id != account_id:
        raise NotFoundError(N_("no movement %(movement)s"), movement=movement_id)
    if m.kind not in ("receipt", "transfer") or (
        m.kind == "transfer" and m.qty_delta <= 0 and m.bin_delta <= 0
    ):
        raise ConflictError(
            N_("movement %(movement)s is a %(kind)s, not a receipt"),
            movement=movement_id,
            kind=m.kind,
        )
    return reverse_movement(
        session,
        account_id,
        movement_id,
        sentence(N_("取消入库: %(reason)s"), reason=reason),
        actor,
        now,
        override=override,
        allow_kinds=frozenset({"receipt", "transfer"}),
    )
