"""Edge facts → order states, ledger movements and tasks for humans.

Called by cloud/sync/ingest.py in the transaction that stores the events, for the events newly
applied (a (node, seq) is applied once, so each fact is acted on once; movements also carry
``event_key`` = ``node:seq:n``, unique in the ledger). Rules (docs/sync.md "Conflicts"):

* Order state belongs to the cloud and only moves forward: a fact for a later step moves
  the order there; a fact for an earlier step is recorded and changes nothing.
* A fact that conflicts with the cloud's state (packed after cancel, picked while on hold,
  an order the cloud does not know) is accepted, changes nothing, and opens a task.
* A pick by a node that does not hold the order's pick lease (cloud/orders/release.py) is
  accepted, books nothing (the holder's pick is the one counted) and opens a task.
* Stock facts are physical truth: a pick or count that would drive a bin or the stock
  negative is booked with a logged override and a task, never refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.aftersales import workflow as aftersales
from cloud.db.models import Event as EventRow
from cloud.db.models import NodeAssignment, PickLease, SalesOrder, Task, Warehouse
from cloud.db.transfers import Transfer
from cloud.errors import (
    N_,
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
)
from cloud.inbound import (
    receipts,
    serial_conflicts,
    serial_labels,
    transfer_moves,
    transfer_ship,
)
from cloud.nodes import ownership
from cloud.orders import core as orders
from cloud.orders import waybill_pool
from cloud.stock import serials
from cloud.stock.ledger import Move, post_as_happened, require_skus
from protocol.messages import (
    EVENT_ADAPTER,
    Event,
    OrderLabelled,
    OrderPacked,
    OrderPicked,
    OrderWeighed,
    PoReceived,
    ReturnReceived,
    SerialLabelPrinted,
    StocktakeCounted,
    TransferReceived,
    TransferShipped,
    WaybillPoolReleased,
    WaybillPoolUsed,
)

log = logging.getLogger("guanjia.cloud.facts")
PICK_LEASE_CONFLICT = "pick_lease_conflict"
#: Words a task's detail puts in as they are (a fact's type, a count's method and scope,
#: protocol/messages.py), marked for the catalogue: the pages say a known word in their
#: language (cloud/tasks.py ``say``), the English detail keeps the word itself.
#: tests/cloud/web/test_task_details.py checks every event type is here.
TASK_WORDS: Final = (
    N_("scan.recorded"),
    N_("node.started"),
    N_("order.picked"),
    N_("order.packed"),
    N_("order.weighed"),
    N_("order.labelled"),
    N_("stocktake.counted"),
    N_("po.received"),
    N_("return.received"),
    N_("transfer.received"),
    N_("transfer.shipped"),
    N_("waybill.pool_used"),
    N_("waybill.pool_released"),
    N_("serial.label_printed"),
    N_("scanner"),
    N_("rfid"),
    N_("full"),
    N_("partial"),
)
TARGET = {
    "order.picked": "picked",
    "order.packed": "packed",
    "order.weighed": "weighed",
    "order.labelled": "labelled",
}


def _book(
    session: Session,
    account_id: int,
    moves: list[Move],
    now: datetime,
    node: str,
    what: dict[str, Any],
    order_no: str | None = None,
) -> None:
    """``what``: the booking, a sentence (cloud/tasks.py) for the task an override opens."""
    why = post_as_happened(session, account_id, moves, now)
    tasks.open_override_task(session, account_id, what, why, now, node_id=node, order_no=order_no)


def apply_facts(session: Session, node: str, events: Sequence[Event], now: datetime) -> None:
    account_id = ownership.account_of(session, node)
    if account_id is None:
        # A node waiting for its claim code is no account's: its events are stored (its
        # owner reads them once it claims it) but book nothing in anyone's stock or orders.
        return
    for ev in events:
        if isinstance(ev, OrderPicked | OrderPacked | OrderWeighed | OrderLabelled):
            _order_fact(session, account_id, node, ev, now)
        elif isinstance(ev, StocktakeCounted):
            _count(session, account_id, node, ev, now)
        elif isinstance(ev, PoReceived):
            _po_received(session, account_id, node, ev, now)
        elif isinstance(ev, ReturnReceived):
            _return_received(session, account_id, node, ev, now)
        elif isinstance(ev, TransferReceived):
            # Its serials first: the transfer.release the booking sends leaves out the
            # serials that arrived (cloud/inbound/transfer_serials.py). Under the transfer's
            # row lock, taken here before the booking takes it again: two nodes' receipts of
            # one serial are recorded in turn, so the second sees the first.
            _lock_transfer(session, account_id, ev.payload.transfer_number)
            _serials(session, account_id, node, ev, now)
            _transfer_received(session, account_id, node, ev, now)
            continue
        elif isinstance(ev, WaybillPoolUsed):
            waybill_pool.bind(session, account_id, node, ev, now)
        elif isinstance(ev, WaybillPoolReleased):
            waybill_pool.released(session, account_id, node, ev, now)
        elif isinstance(ev, SerialLabelPrinted):
            serial_labels.printed(session, account_id, node, ev, now)
            continue  # its step is written there
        elif isinstance(ev, TransferShipped) and not _transfer_shipped(
            session, account_id, node, ev, now
        ):
            continue  # refused: the units were put back, they did not leave
        _serials(session, account_id, node, ev, now)


SERIAL_CONFLICT: Final = serial_conflicts.SERIAL_CONFLICT


def _serials(session: Session, account_id: int, node: str, ev: Event, now: datetime) -> None:
    """The fact's serials into each unit's trace (cloud/stock/serials.py), whether or not the
    fact booked anything: they say where the unit physically was. A serial seen where one
    unit cannot be (received while in stock, packed into a second order) is kept, flagged,
    and one task asks a person to look at the two units (cloud/inbound/serial_conflicts.py)."""
    found = serials.record(session, account_id, node, ev, now)
    serial_conflicts.open_tasks(session, account_id, node, ev.type, found, now, str(ev.id))


RECEIPT_CONFLICT: Final = "receipt_conflict"


def _po_received(
    session: Session, account_id: int, node: str, ev: PoReceived, now: datetime
) -> None:
    """A receipt made at a receiving station: booked once under its receipt id
    (cloud/inbound/receipts.py). Goods a station took in that the hub cannot book (the PO
    closed meanwhile, beyond tolerance, a warehouse the node is not at) are physically
    there: the fact is kept, nothing is booked, and a task asks a person to decide."""
    p = ev.payload
    try:
        _check_at(session, account_id, node, p.warehouse)
        with session.begin_nested():
            receipts.book(
                session,
                account_id,
                p.po_number,
                p.receipt_id,
                p.warehouse,
                [
                    receipts.ReceiptLine(ln.sku_code, ln.qty, ln.verdict, ln.reason, ln.bin)
                    for ln in p.lines
                ],
                f"node:{node}",
                now,
                source=node,
            )
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            RECEIPT_CONFLICT,
            N_(
                "receipt %(receipt)s from %(node)s for purchase order %(po)s was not booked:"
                " %(why)s. The goods are at the dock; book them by hand or return them."
            ),
            now,
            params={"receipt": p.receipt_id, "node": node, "po": p.po_number, "why": tasks.said(e)},
            node_id=node,
            event_id=str(ev.id),
        )


RETURN_CONFLICT: Final = "return_conflict"


def _return_received(
    session: Session, account_id: int, node: str, ev: ReturnReceived, now: datetime
) -> None:
    """A return received and QC'd at a returns station: booked once under its receipt id
    (cloud/aftersales/workflow.py). One the hub cannot book (the request rejected meanwhile,
    received already under another receipt, another warehouse) is kept, books nothing, and
    a task says why: the parcel is on the returns table and a person decides."""
    p = ev.payload
    try:
        _check_at(session, account_id, node, p.warehouse)
        with session.begin_nested():
            aftersales.receive(
                session,
                account_id,
                p.request,
                p.receipt_id,
                p.warehouse,
                [
                    aftersales.ReturnLine(
                        ln.line_no, ln.sku_code, ln.sellable, ln.damaged, ln.missing, ln.reason
                    )
                    for ln in p.lines
                ],
                f"node:{node}",
                now,
                return_waybill=p.return_waybill,
            )
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            RETURN_CONFLICT,
            N_(
                "return %(receipt)s from %(node)s for after-sales request %(request)s was not"
                " booked: %(why)s. The parcel is at the returns table; book it by hand or send"
                " it back."
            ),
            now,
            params={
                "receipt": p.receipt_id,
                "node": node,
                "request": p.request,
                "why": tasks.said(e),
            },
            node_id=node,
            event_id=str(ev.id),
        )


def _order_fact(
    session: Session,
    account_id: int,
    node: str,
    ev: OrderPicked | OrderPacked | OrderWeighed | OrderLabelled,
    now: datetime,
) -> None:
    p = ev.payload
    actor = f"node:{node}"
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
            _book(session, account_id, moves, now, node, what, o.order_no)
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


COUNT_VARIANCE = "count_variance"


def count_moves(session: Session, account_id: int, node: str, ev: StocktakeCounted) -> list[Move]:
    """The adjustments a count's variances stand for (expected -> counted per bin and SKU)."""
    p = ev.payload
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == p.warehouse)
    ).scalar_one()
    return [
        Move(
            wh.id,
            ln.sku_code,
            "adjust",
            tasks.sentence(
                N_(
                    "stocktake %(count)s (%(method)s, %(scope)s): counted %(counted)s, expected"
                    " %(expected)s"
                ),
                count=p.count_id,
                method=p.method,
                scope=p.scope,
                counted=ln.counted,
                expected=ln.expected,
            ),
            f"count:{p.count_id}",
            f"node:{node}",
            qty_delta=ln.counted - ln.expected,
            bin_code=ln.bin,
            bin_delta=ln.counted - ln.expected,
            event_key=f"{node}:{ev.seq}:{i}",
        )
        for i, ln in enumerate(p.lines)
        if ln.counted != ln.expected
    ]


def approve_count(session: Session, task: Task, actor: str, now: datetime) -> int:
    """Book an approved count's adjustments (the task carries the count's event id)."""
    row = session.execute(
        select(EventRow).where(EventRow.event_id == task.event_id)
    ).scalar_one_or_none()
    if row is None:
        raise ConflictError(N_("task %(task)s: the count it approves is not stored"), task=task.id)
    ev = EVENT_ADAPTER.validate_python(
        {
            "v": 1,
            "node": row.node_id,
            "epoch": row.epoch,
            "seq": row.seq,
            "id": row.event_id,
            "hlc": row.hlc,
            "type": row.type,
            "payload": row.payload,
        }
    )
    assert isinstance(ev, StocktakeCounted)
    moves = count_moves(session, task.account_id, row.node_id, ev)
    for m in moves:
        m.actor = actor
    what = tasks.sentence(N_("stocktake %(count)s"), count=ev.payload.count_id)
    _book(session, task.account_id, moves, now, row.node_id, what)
    return len(moves)


def _count(
    session: Session, account_id: int, node: str, ev: StocktakeCounted, now: datetime
) -> None:
    p = ev.payload
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == p.warehouse)
    ).scalar_one_or_none()
    if wh is None:
        tasks.open_task(
            session,
            account_id,
            "stocktake",
            N_("count %(count)s from %(node)s names unknown warehouse %(warehouse)s"),
            now,
            params={"count": p.count_id, "node": node, "warehouse": p.warehouse},
            node_id=node,
            event_id=str(ev.id),
        )
        return
    moves = count_moves(session, account_id, node, ev)
    try:
        require_skus(session, account_id, {m.sku_code for m in moves})
    except Exception as err:  # an unknown SKU in a count is for a human, not a crash of ingest
        tasks.open_task(
            session,
            account_id,
            "stocktake",
            N_("count %(count)s: %(why)s; nothing booked"),
            now,
            params={"count": p.count_id, "why": tasks.said(err)},
            node_id=node,
            event_id=str(ev.id),
        )
        return
    if moves:
        # A count never overwrites the book by itself: a lead approves the variance
        # (POST /api/v1/tasks/{id}/resolve with approve), which books the adjustments.
        lines: list[Any] = [f"{m.bin_code} {m.sku_code} {m.qty_delta:+d}" for m in moves[:50]]
        if len(moves) > 50:
            lines.append(tasks.sentence(N_("… %(n)s more"), n=len(moves) - 50))
        tasks.open_task(
            session,
            account_id,
            COUNT_VARIANCE,
            N_(
                "count %(count)s (%(method)s, %(scope)s) by %(node)s: %(n)s variance(s) to"
                " approve: %(lines)s"
            ),
            now,
            params={
                "count": p.count_id,
                "method": p.method,
                "scope": p.scope,
                "node": node,
                "n": len(moves),
                "lines": lines,
            },
            node_id=node,
            event_id=str(ev.id),
        )
    if p.missed_bins:
        tasks.open_task(
            session,
            account_id,
            "stocktake",
            N_("count %(count)s missed bins: %(bins)s"),
            now,
            params={"count": p.count_id, "bins": ", ".join(p.missed_bins[:200])},
            node_id=node,
            event_id=str(ev.id),
        )
    log.info("stocktake %s from %s: %d variance line(s)", p.count_id, node, len(moves))


#: The scopes closing a task needs beyond ``tasks:write``, by (kind, action), because of what
#: the action books: approving a count variance books stock adjustments, which
#: ``POST /stock/adjustments`` guards with ``stock:write`` (issue 13, finding 2; OWASP
#: API5:2023 broken function level authorization). Every other (kind, action) only closes
#: the task with a note and books nothing: ``stock_variance``, ``unknown_order``,
#: ``fact_conflict``, ``pick_exception``, ``weight``, ``carrier_mismatch``, ``stocktake``,
#: ``pick_lease_conflict``, ``shipment_conflict``, and a count variance rejected
#: (``approve: false``). A new action that books must be added here.
ACTION_SCOPES: Final[dict[tuple[str, str], tuple[frozenset[str], str]]] = {
    (COUNT_VARIANCE, "approve"): (frozenset({"stock:write"}), "books stock adjustments"),
}


def _action(kind: str, approve: bool | None) -> str:
    return "approve" if kind == COUNT_VARIANCE and approve else "close"


def resolve_task(
    session: Session,
    account_id: int,
    task_id: str,
    resolution: str,
    actor: str,
    now: datetime,
    approve: bool | None = None,
    *,
    scopes: frozenset[str],
) -> Task:
    """Close a task. A count variance needs a decision: ``approve`` books its adjustments
    (a compensating movement each, never an edit), ``approve=False`` books nothing.

    ``scopes``: the caller's; an action that books needs the scopes of what it books
    (:data:`ACTION_SCOPES`), else :class:`ForbiddenError` and nothing changes."""
    t = session.execute(
        select(Task).where(Task.public_id == task_id).with_for_update()
    ).scalar_one_or_none()
    if t is None or t.account_id != account_id:
        raise NotFoundError(N_("no task %(task)s"), task=task_id)
    needed = ACTION_SCOPES.get((t.kind, _action(t.kind, approve)))
    if needed is not None:
        missing = sorted(needed[0] - scopes)
        if missing:
            raise ForbiddenError(
                N_(
                    "approving %(kind)s task %(task)s %(does)s, which needs the scope"
                    " %(scopes)s; this login lacks it (ask a warehouse lead)"
                ),
                kind=t.kind.replace("_", " "),
                task=task_id,
                does=needed[1],
                scopes=", ".join(missing),
            )
    if t.status == "done":
        raise ConflictError(
            N_("task %(task)s was resolved already by %(who)s"), task=task_id, who=t.resolved_by
        )
    if t.kind == "count_variance":
        if approve is None:
            raise InvalidError(
                N_("a count variance is resolved with approve: true (book it) or false")
            )
        if approve:
            n = approve_count(session, t, actor, now)
            resolution = f"approved, {n} adjustment(s) booked: {resolution}"
        else:
            resolution = f"rejected, nothing booked: {resolution}"
    t.status, t.resolution, t.resolved_by, t.resolved_at = "done", resolution, actor, now
    return t


def _transfer_received(
    session: Session, account_id: int, node: str, ev: TransferReceived, now: datetime
) -> None:
    """A transfer received at a receiving station: booked once under its receipt id
    (cloud/inbound/transfer_moves.py), like a PO receipt. What the hub cannot book (the
    shipment taken back meanwhile, more than was shipped, another warehouse) is kept, books
    nothing and opens a ``receipt_conflict`` task."""
    p = ev.payload
    try:
        _check_at(session, account_id, node, p.warehouse)
        with session.begin_nested():
            got, new = transfer_moves.receive(
                session,
                account_id,
                p.transfer_number,
                p.receipt_id,
                p.warehouse,
                [
                    transfer_moves.ReceiptLine(ln.sku_code, ln.qty, ln.verdict, ln.reason, ln.bin)
                    for ln in p.lines
                ],
                f"node:{node}",
                now,
                source=node,
            )
        if new:
            serial_conflicts.not_shipped(
                session, account_id, node, p, got.transfer_id, now, str(ev.id)
            )
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            RECEIPT_CONFLICT,
            N_(
                "receipt %(receipt)s from %(node)s for transfer %(transfer)s was not booked:"
                " %(why)s. The goods are at the dock; book them by hand or send them back."
            ),
            now,
            params={
                "receipt": p.receipt_id,
                "node": node,
                "transfer": p.transfer_number,
                "why": tasks.said(e),
            },
            node_id=node,
            event_id=str(ev.id),
        )


SHIPMENT_CONFLICT: Final = "shipment_conflict"


def _transfer_shipped(
    session: Session, account_id: int, node: str, ev: TransferShipped, now: datetime
) -> bool:
    """A transfer picked and shipped at the sender's node: booked once under its shipment id
    (cloud/inbound/transfer_ship.py). One the hub cannot book (shipped already, cancelled,
    another warehouse's node) is kept, books nothing, and a task says why. Whether it was
    booked (now or before): only then do its serials enter the units' trace."""
    p = ev.payload
    try:
        with session.begin_nested():
            transfer_ship.book(session, account_id, node, p, now, event_id=str(ev.id))
        return True
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            SHIPMENT_CONFLICT,
            N_(
                "shipment %(shipment)s from %(node)s of transfer %(transfer)s was not booked:"
                " %(why)s. The goods were picked; put them back on the shelves."
            ),
            now,
            params={
                "shipment": p.shipment_id,
                "node": node,
                "transfer": p.transfer_number,
                "why": tasks.said(e),
            },
            node_id=node,
            event_id=str(ev.id),
        )
        return False


def _lock_transfer(session: Session, account_id: int, number: str) -> None:
    """The transfer's row lock (none for a transfer the hub does not know: the booking
    refuses it with a task)."""
    session.execute(
        select(Transfer.id)
        .where(Transfer.account_id == account_id, Transfer.number == number)
        .with_for_update()
    ).all()


def _check_at(session: Session, account_id: int, node: str, warehouse: str) -> None:
    """Refuse a station's fact for a warehouse its node is not assigned to (the receiving,
    returns and transfer facts each check this before booking)."""
    assigned = session.execute(
        select(Warehouse.code)
        .join(NodeAssignment, NodeAssignment.warehouse_id == Warehouse.id)
        .where(NodeAssignment.node_id == node, Warehouse.account_id == account_id)
    ).scalar_one_or_none()
    if assigned != warehouse:
        raise ConflictError(
            N_("node %(node)s is at warehouse %(at)s, not %(wanted)s"),
            node=node,
            at=assigned or "none",
            wanted=warehouse,
        )
