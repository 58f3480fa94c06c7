"""A number from a node's offline e-waybill pool, reported used (``waybill.pool_used``): the
hub binds it to the order once (docs/channels.md "The offline pool").

The parcel physically carries the pool number, so it becomes the order's waybill: a
``waybill`` row ``drawn`` with it (the key ``pool:<pool row id>``), and a number the drawer
drew for the order meanwhile goes back to the courier (``cancel``), as when an order is
withdrawn. From then on the number is the order's like any drawn one: it goes back to the
courier when the order leaves the warehouse unshipped (``waybill_outbox.on_withdrawn``).

Never two parcels on one number: a number that is already on another order, that is not in
this node's pool, that the hub never sent, or that a lead gave back by force (the node never
answered the give-back: cloud/channels/pool_force.py) is refused. The order is then held with the
reason (the pack station shows "pull the parcel") and a task tells a person to relabel it;
nothing of the other order changes. A report repeated (the same order and number) is a no-op.

Here, in the orders layer, because ``cloud.facts`` applies the fact in the transaction that
stores it, and the drawing side (cloud/channels/waybill_pool.py) sits above both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import Node, SalesOrder
from cloud.db.waybills import PoolWaybill, Waybill
from cloud.errors import N_
from cloud.nodes import downlink
from cloud.orders import core as orders
from cloud.orders import pool_overdue
from protocol.messages import WaybillPoolReleased, WaybillPoolTopUp, WaybillPoolUsed

POOL_CONFLICT: Final = "waybill_pool_conflict"


def pool_key(row: PoolWaybill) -> str:
    return f"pool:{row.id}"


def _refuse(
    session: Session,
    account_id: int,
    node: str,
    ev: WaybillPoolUsed,
    o: SalesOrder | None,
    why: dict[str, Any],
    now: datetime,
) -> None:
    """``why``: a sentence (cloud/tasks.py), translated with the task."""
    p = ev.payload
    tasks.open_task(
        session,
        account_id,
        POOL_CONFLICT,
        N_(
            "waybill %(waybill)s from %(node)s's offline pool was printed for order "
            "%(order)s but %(why)s: relabel that parcel with a new waybill"
        ),
        now,
        params={"waybill": p.waybill_code, "node": node, "order": p.order_id, "why": why},
        order_no=p.order_id,
        node_id=node,
        event_id=str(ev.id),
    )
    if o is not None and o.status in orders.AT_EDGE and not o.on_hold:
        refused = tasks.sentence(
            N_("offline waybill %(waybill)s refused: %(why)s; relabel the parcel"),
            waybill=p.waybill_code,
            why=why,
        )
        reason = tasks.say(refused["msgid"], refused["params"])
        o.on_hold, o.hold_reason = True, reason[:300]
        actor = f"node:{node}"
        orders.note(session, o, "hold", actor, now, refused)
        o.changed_at, o.changed_by = now, actor
        session.flush()
        orders.send_release(session, o, now)


def resend_left(session: Session, row: PoolWaybill, now: datetime) -> None:
    """The used number's top-up again, with the numbers of it still unused (cloud/db/waybills.py
    ``PoolWaybill.batch``): the compacted downlink then never hands a used number back to a
    node that resyncs from it."""
    if row.batch is None:
        return
    left = session.execute(
        select(PoolWaybill.waybill_code)
        .where(
            PoolWaybill.account_id == row.account_id,
            PoolWaybill.node_id == row.node_id,
            PoolWaybill.batch == row.batch,
            PoolWaybill.state == "sent",
        )
        .order_by(PoolWaybill.id)
    ).scalars()
    node = session.execute(
        select(Node).where(Node.node_id == row.node_id).with_for_update()
    ).scalar_one_or_none()
    if node is None:
        return
    item = WaybillPoolTopUp(
        carrier=row.carrier, batch=row.batch, waybills=[c for c in left if c is not None]
    )
    downlink.append(session, node, "waybill.pool", item, now)


def bind(session: Session, account_id: int, node: str, ev: WaybillPoolUsed, now: datetime) -> None:
    p = ev.payload
    # The order first, then the number: the order's own transactions lock in that order.
    o = session.execute(
        select(SalesOrder)
        .where(SalesOrder.account_id == account_id, SalesOrder.order_no == p.order_id)
        .with_for_update()
    ).scalar_one_or_none()
    # Then the pool's row (the overdue task's lock: cloud/orders/pool_overdue.py), then the
    # number: the order the pool drain locks in.
    pool_overdue.lock_pool(session, account_id, node, p.carrier)
    row = session.execute(
        select(PoolWaybill)
        .where(
            PoolWaybill.account_id == account_id,
            PoolWaybill.carrier == p.carrier,
            PoolWaybill.waybill_code == p.waybill_code,
        )
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or row.node_id != node:
        why = tasks.sentence(N_("it is not in that node's pool"))
        _refuse(session, account_id, node, ev, o, why, now)
        return
    if row.state == "used":
        if o is not None and row.order_id == o.id:
            return  # reported again: bound already
        other = session.get(SalesOrder, row.order_id) if row.order_id else None
        why = tasks.sentence(
            N_("it is already on order %(other)s"), other=other.order_no if other else "?"
        )
        _refuse(session, account_id, node, ev, o, why, now)
        return
    if row.forced_at is not None:
        # Given back by force (the node never answered the give-back: cloud/channels/
        # pool_force.py) and cancelled at the courier, or about to be: the parcel carries a
        # number that is no longer ours. Never bound silently; a person relabels it.
        why = tasks.sentence(
            N_(
                "it was given back by force on %(when)s (UTC), the node not answering, and "
                "cancelled at the courier"
            ),
            when=row.forced_at.strftime("%Y-%m-%d %H:%M"),
        )
        _refuse(session, account_id, node, ev, o, why, now)
        return
    if row.state not in ("sent", "releasing"):
        # ``releasing``: printed before the hub's request to give it back reached the node
        # (the node answers it ``used``); the parcel carries it, so it is bound as usual.
        why = tasks.sentence(N_("the hub never sent it (%(state)s)"), state=row.state)
        _refuse(session, account_id, node, ev, o, why, now)
        return
    row.state, row.used_at = "used", now
    if row.overdue_task_id is not None:
        # The answer to an overdue give-back ("printed"): its task closes once none is owed.
        session.flush()
        pool_overdue.settle(session, account_id, node, (row.carrier,), now)
    resend_left(session, row, now)
    if o is None:
        # An order the hub does not know (the labelled fact opens its task): the number is
        # used up at the node; nothing to bind it to.
        return
    row.order_id = o.id
    ships = o.status in orders.AT_EDGE
    if ships:
        # A number drawn for the order meanwhile goes back; a draw never called is void.
        for w in session.execute(
            select(Waybill).where(Waybill.order_id == o.id, Waybill.state == "drawn")
        ).scalars():
            w.state, w.next_try_at, w.attempts = "cancel", now, 0
        session.execute(
            update(Waybill)
            .where(Waybill.order_id == o.id, Waybill.state == "pending", Waybill.attempts == 0)
            .values(state="void", done_at=now)
            .execution_options(synchronize_session=False)
        )
    session.add(
        Waybill(
            account_id=account_id,
            order_id=o.id,
            shop_id=row.shop_id,
            carrier=row.carrier,
            cp_code=row.cp_code,
            idempotency_key=pool_key(row),
            parcel=1,
            waybill_code=row.waybill_code,
            # Cancelled or shipped meanwhile: the number goes back to the courier at once.
            state="drawn" if ships else "cancel",
            attempts=0,
            next_try_at=now,
            created_at=now,
            done_at=now if ships else None,
        )
    )
    actor = f"node:{node}"
    if not ships:
        back = tasks.sentence(N_("offline waybill %(waybill)s given back"), waybill=p.waybill_code)
        orders.note(session, o, "waybill", actor, now, back)
        return
    # The courier's record still names the pool's placeholder parcel: corrected to the
    # order's recipient by cloud/channels/waybill_pool.py (cainiao.waybill.ii.update).
    row.recipient_state, row.attempts, row.next_try_at, row.error = "pending", 0, now, None
    o.tracking_number = p.waybill_code
    bound = tasks.sentence(N_("offline waybill %(waybill)s bound"), waybill=p.waybill_code)
    orders.note(session, o, "waybill", actor, now, bound)
    session.flush()
    orders.send_release(session, o, now)


def released(
    session: Session, account_id: int, node: str, ev: WaybillPoolReleased, now: datetime
) -> int:
    """The node removed these numbers from its pool (docs/channels.md "Giving numbers back"):
    each of them still ``releasing`` on that node goes back to the courier (``cancel``: the
    pool drain calls ``cainiao.waybill.ii.cancel``). A number the node printed meanwhile is
    bound by its own ``waybill.pool_used``; a repeated answer, another node's number, or one
    not asked back changes nothing. Returns how many are to cancel."""
    p = ev.payload
    if not p.released:
        return 0
    pool_overdue.lock_pool(session, account_id, node, p.carrier)
    rows = session.execute(
        select(PoolWaybill)
        .where(
            PoolWaybill.account_id == account_id,
            PoolWaybill.node_id == node,
            PoolWaybill.carrier == p.carrier,
            PoolWaybill.waybill_code.in_(p.released),
            PoolWaybill.state == "releasing",
        )
        .with_for_update()
    ).scalars()
    n = 0
    overdue = False
    for row in rows:
        row.state, row.attempts, row.next_try_at, row.error = "cancel", 0, now, None
        overdue = overdue or row.overdue_task_id is not None
        n += 1
    if overdue:
        # The late answer to an overdue give-back: its task closes once none is owed.
        session.flush()
        pool_overdue.settle(session, account_id, node, (p.carrier,), now)
    return n
