"""An order's facts from the pick, pack, weigh and label stations (order.picked,
order.packed, order.weighed, order.labelled): the order's state, the pick's movements, and a
task for what conflicts with the hub's state or the pick lease (docs/sync.md "Conflicts")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import PickLease, SalesOrder
from cloud.errors import N_
from cloud.facts.common import book
from cloud.orders import core as orders
from cloud.stock.ledger import Move
from protocol.messages import OrderLabelled, OrderPacked, OrderPicked, OrderWeighed

PICK_LEASE_CONFLICT = "pick_lease_conflict"
TARGET = {
    "order.picked": "picked",
    "order.packed": "packed",
    "order.weighed": "weighed",
    "order.labelled": "labelled",
}


def order_fact(
    session: Session,
    account_id: int,
    node: str,
    ev: OrderPicked | OrderPacked | OrderWeighed | OrderLabelled,
    now: datetime,
) -> None:
    p = ev.payload
    actor = f"node:{node}"
    # The ingest locked the order already, before its nodes (cloud/sync/locks.py): a hold or
    # a release locks the order and then the warehouse's nodes; taken again here at once.
    o = session.execute(
        select(SalesOrder)
        .where(SalesOrder.account_id == account_id, SalesOrder.order_no == p.order_id)
        .with_for_update()
    ).scalar_one_or_none()
    if o is None:
        tasks.open_task(
            session,
            account_id,
            "unknown_order",
            N_("%(fact)s from %(node)s for order %(order)s, which the hub does not know"),
            now,
            params={"fact": ev.type, "node": node, "order": p.order_id},
            order_no=p.order_id,
            node_id=node,
            event_id=str(ev.id),
        )
        return
    if o.status not in orders.AT_EDGE or o.on_hold:
        state = N_("on hold") if o.on_hold and o.status in orders.AT_EDGE else o.status
        tasks.open_task(
            session,
            account_id,
            "fact_conflict",
            N_(
                "%(fact)s (version %(version)s) from %(node)s but order %(order)s is %(state)s"
                " (version %(current)s); check the parcel by hand"
            ),
            now,
            params={
                "fact": ev.type,
                "version": p.version,
                "node": node,
                "order": o.order_no,
                "state": state,
                "current": o.version,
            },
            order_no=o.order_no,
            node_id=node,
            event_id=str(ev.id),
        )
        return
    holder = session.get(PickLease, o.id) if isinstance(ev, OrderPicked) else None
    if isinstance(ev, OrderPicked) and holder is not None and holder.node_id not in (None, node):
        _foreign_pick(session, account_id, node, o, str(holder.node_id), ev, now)
        return
    key = f"{node}:{ev.seq}"
    if isinstance(ev, OrderPicked):
        moves = [
            Move(
                o.warehouse_id,
                ln.sku_code,
                "pick",
                tasks.sentence(N_("picked by %(who)s"), who=ev.payload.operator or node),
                orders.doc(o.order_no),
                actor,
                bin_code=ln.bin,
                bin_delta=-ln.qty,
                event_key=f"{key}:{i}",
            )
            for i, ln in enumerate(ev.payload.lines)
            if ln.bin and ln.qty
        ]
        if moves:
            what = tasks.sentence(N_("pick of %(order)s"), order=o.order_no)
            book(session, account_id, moves, now, node, what, o.order_no)
        odd = [ln for ln in ev.payload.lines if ln.short or ln.substitute_for]
        for ln in odd:
            what = (
                tasks.sentence(N_("short pick: %(qty)s of %(sku)s"), qty=ln.qty, sku=ln.sku_code)
                if ln.short
                else tasks.sentence(
                    N_("%(sku)s picked for %(wanted)s"), sku=ln.sku_code, wanted=ln.substitute_for
                )
            )
            tasks.open_task(
                session,
                account_id,
                "pick_exception",
                N_("order %(order)s line %(line)s: %(what)s"),
                now,
                params={"order": o.order_no, "line": ln.line_id, "what": what},
                order_no=o.order_no,
                node_id=node,
                event_id=str(ev.id),
            )
    elif isinstance(ev, OrderWeighed):
        o.weighed_g = ev.payload.grams
        if not ev.payload.within_tolerance and ev.payload.override_by is None:
            tasks.open_task(
                session,
                account_id,
                "weight",
                N_("order %(order)s weighed %(grams)s g, expected %(expected)s g"),
                now,
                params={
                    "order": o.order_no,
                    "grams": ev.payload.grams,
                    "expected": ev.payload.expected_grams,
                },
                order_no=o.order_no,
                node_id=node,
                event_id=str(ev.id),
            )
    elif isinstance(ev, OrderLabelled):
        o.tracking_number = ev.payload.tracking_number
        if ev.payload.carrier != o.carrier:
            tasks.open_task(
                session,
                account_id,
                "carrier_mismatch",
                N_("order %(order)s labelled for %(label)s, audited for %(audited)s"),
                now,
                params={"order": o.order_no, "label": ev.payload.carrier, "audited": o.carrier},
                order_no=o.order_no,
                node_id=node,
                event_id=str(ev.id),
            )
    target = TARGET[ev.type]
    if orders.RANK[target] > orders.RANK[o.status]:
        said = tasks.sentence(
            N_("event %(event)s (version %(version)s)"), event=str(ev.id), version=p.version
        )
        orders.log(session, o, ev.type, target, actor, now, said)
    else:
        said = tasks.sentence(N_("event %(event)s: earlier step, recorded only"), event=str(ev.id))
        orders.note(session, o, ev.type, actor, now, said)


def _foreign_pick(
    session: Session,
    account_id: int,
    node: str,
    o: SalesOrder,
    holder: str,
    ev: OrderPicked,
    now: datetime,
) -> None:
    """A pick by a node that does not hold the order's pick lease: kept, not booked, a task.

    It picked offline before it learnt the lease had moved (or someone picked by hand from
    its list): the holder picks, or picked, the same goods. Booking both would take the
    goods off the book twice, so this one is booked never; a person puts the second set back
    on the shelves (or, if the holder never picks it, decides what the book must say).
    """
    picked = [ln for ln in ev.payload.lines if ln.qty]
    what = [
        tasks.sentence(
            N_("%(qty)s × %(sku)s from %(bin)s"), qty=ln.qty, sku=ln.sku_code, bin=ln.bin
        )
        if ln.bin
        else tasks.sentence(N_("%(qty)s × %(sku)s from no bin"), qty=ln.qty, sku=ln.sku_code)
        for ln in picked[:50]
    ]
    tasks.open_task(
        session,
        account_id,
        PICK_LEASE_CONFLICT,
        (
            N_(
                "order.picked (version %(version)s) from %(node)s, but the pick of order %(order)s"
                " is leased to %(holder)s: nothing booked for it. %(node)s took %(what)s: put it"
                " back unless it is the parcel's only set."
            )
            if picked
            else N_(
                "order.picked (version %(version)s) from %(node)s, but the pick of order %(order)s"
                " is leased to %(holder)s: nothing booked for it."
            )
        ),
        now,
        params={
            "version": ev.payload.version,
            "node": node,
            "order": o.order_no,
            "holder": holder,
            "what": what,
        },
        order_no=o.order_no,
        node_id=node,
        event_id=str(ev.id),
    )
    orders.note(
        session,
        o,
        ev.type,
        f"node:{node}",
        now,
        tasks.sentence(
            N_(
                "event %(event)s from %(node)s, not the pick lease holder %(holder)s:"
                " recorded only, task opened"
            ),
            event=str(ev.id),
            node=node,
            holder=holder,
        ),
    )
