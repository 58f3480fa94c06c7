"""A lead's steps on a transfer's pick at the sending warehouse (docs/inbound.md "Transfers").

* **Ship the rest** (补发): a transfer its node shipped short (the bin was empty, the goods
  were damaged on the shelf) keeps the rest at the sender. A lead who has found the goods
  asks the pick node for the rest: the hub sends ``transfer.outbound`` again with the next
  shipment number and only what is left of each line, the node offers it like the first,
  and its ``transfer.shipped`` books as a further shipment (cloud/inbound/transfer_ship.py).
  Not automatic: the short pick said the goods were not where the book put them, so
  offering the rest at once would send the picker back to the same empty bin; the lead
  decides when (the short pick's task says so), as 网店管家's 补发 is a person's step.
* **Move the pick** to another pick node of the sending warehouse, as an order's pick lease
  moves (cloud/orders/release.py ``move``): the old node is told the transfer is withdrawn
  from its pick ("put it back"), the new one offers it. A late shipment from the old node
  is refused by the hub with a task (transfer_ship.py: "picked by node …"), so the
  transfer is booked once whoever picked it.

* **Ship the rest from the hub** where the sending warehouse has no node that picks, or a
  lead chooses to (the node is dead, the goods were found and carried out by hand): the rest
  of every short line is booked as the transfer's next shipment through the hub's own
  shipping path (``tr:ACCOUNT:NUMBER:sN:LINE``, refused whole with 409 when the book lacks
  the stock), and the pick node is told the transfer is shipped ("put it back" mid-pick). A
  shipment that node reports afterwards waits for nothing and is refused with a
  ``shipment_conflict`` task (transfer_ship.py), so the rest is booked once.
* **Cancel the rest**: the hub waits for the rest no more; the node stops offering it. The
  short lines stay short (the transfer is done once what left arrives); a lead may ask again.
* **A rest nobody picks** (the node is dead, or the goods are not there either): an ask not
  answered within ``GUANJIA_TRANSFER_REST_WAIT_S`` opens one ``transfer_rest_overdue`` task
  naming the three steps above (:func:`overdue`, ticked by each hub worker).

Each is refused, changing nothing, for a transfer that waits for no node shipment (a draft,
a cancelled one, one shipped whole or received), or a node that is not a pick node of the
sending warehouse.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import NodeAssignment, Warehouse
from cloud.db.transfers import Transfer, TransferLine
from cloud.errors import N_, ConflictError, sentence
from cloud.inbound import transfer_release, transfers
from cloud.nodes.registry import station_kinds
from cloud.stock import ledger

#: The task of a rest asked of a pick node and not shipped in time (:func:`overdue`).
OVERDUE: Final = "transfer_rest_overdue"


def waits_for_node(t: Transfer) -> bool:
    """Whether the hub waits for a node's shipment of the transfer (its pick is open)."""
    return t.status == "audited" or t.rest_asked_by is not None


def _with_rest(session: Session, t: Transfer) -> list[TransferLine]:
    """The transfer's lines, refusing one that has no rest to ship (not shipped yet, or
    shipped whole)."""
    if t.status not in (*transfers.RECEIVING, "done"):
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s; only a transfer shipped short has a rest to "
                "ship (an audited one ships whole)"
            ),
            number=t.number,
            status=t.status,
        )
    lines = transfers.lines_of(session, t)
    if all(ln.shipped >= ln.qty for ln in lines):
        raise ConflictError(
            N_("transfer %(number)s was shipped whole; nothing of it is left to ship"),
            number=t.number,
        )
    return lines


def ship_rest(
    session: Session, account_id: int, number: str, actor: str, now: datetime
) -> Transfer:
    """Ask the pick node to ship what is left of a transfer shipped short (see above)."""
    t = transfers.get(session, account_id, number, lock=True)
    lines = _with_rest(session, t)
    if t.rest_asked_by is not None:
        raise ConflictError(
            N_(
                "the rest of transfer %(number)s was asked for already (%(who)s); node %(node)s "
                "ships it as shipment %(next)s"
            ),
            number=number,
            who=t.rest_asked_by,
            node=t.pick_node or "-",
            next=t.shipments + 1,
        )
    if t.pick_node is None:
        t.pick_node = transfer_release.choose_pick_node(session, t)
    if t.pick_node is None:
        raise ConflictError(
            N_(
                "transfer %(number)s: warehouse %(warehouse)s has no pick node to ship the rest; "
                "ship the rest from the hub, or assign a pick node and ask again"
            ),
            number=number,
            warehouse=session.get_one(Warehouse, t.from_warehouse_id).code,
        )
    t.rest_asked_by, t.rest_asked_at, t.rest_overdue_at = actor, now, None
    t.changed_by, t.changed_at = actor, now
    session.flush()
    transfer_release.push_outbound(session, t, lines, now)
    return t


def ship_rest_from_hub(
    session: Session, account_id: int, number: str, actor: str, now: datetime
) -> Transfer:
    """Ship what is left of every short line from the hub, as the next shipment (see above):
    all of it or nothing (409 when the sender's book lacks the stock, as ``transfers.ship``)."""
    t = transfers.get(session, account_id, number, lock=True)
    lines = _with_rest(session, t)
    rest = [ln for ln in lines if ln.shipped < ln.qty]
    n = t.shipments + 1
    moves = [
        ledger.Move(
            t.from_warehouse_id,
            ln.sku_code,
            "transfer",
            sentence(N_("transfer %(number)s: the rest shipped from the hub"), number=t.number),
            transfers.document(t.number),
            actor,
            qty_delta=-(ln.qty - ln.shipped),
            bin_code=t.from_bin,
            bin_delta=-(ln.qty - ln.shipped) if t.from_bin else 0,
            # The hub's shipment key (transfers.ship): 冲销出库 finds it by ``…:sN:``.
            event_key=f"tr:{account_id}:{t.number}:s{n}:{ln.line_no}",
        )
        for ln in rest
    ]
    ledger.post(session, account_id, moves, now)
    for ln in rest:
        ln.shipped = ln.qty
    t.shipments = n
    # The hub waits for no node's shipment now: a late one is refused (transfer_ship.py).
    t.rest_asked_by = t.rest_asked_at = t.rest_overdue_at = None
    t.shipped_by, t.shipped_at = actor, now
    t.changed_by, t.changed_at = actor, now
    lines = transfers.settle(session, t, now)
    transfer_release.push_outbound(session, t, lines, now)
    return t


def cancel_rest(
    session: Session, account_id: int, number: str, reason: str, actor: str, now: datetime
) -> Transfer:
    """The hub waits for the rest no more (see above); the node stops offering it."""
    t = transfers.get(session, account_id, number, lock=True)
    if t.rest_asked_by is None:
        raise ConflictError(
            N_(
                "no rest of transfer %(number)s is asked of a pick node; nothing to cancel "
                "(%(status)s)"
            ),
            number=number,
            status=t.status,
        )
    t.rest_asked_by = t.rest_asked_at = t.rest_overdue_at = None
    t.status_reason = reason
    t.changed_by, t.changed_at = actor, now
    session.flush()
    transfer_release.push_outbound(session, t, transfers.lines_of(session, t), now)
    return t


def overdue(session: Session, now: datetime, wait: timedelta, limit: int = 100) -> int:
    """Open a ``transfer_rest_overdue`` task for each rest asked longer than ``wait`` ago and
    not shipped, once per ask; return how many. Safe with several workers ticking at once:
    the conditional UPDATE claims a transfer for one of them."""
    due = session.execute(
        select(Transfer.id)
        .where(
            Transfer.rest_asked_by.is_not(None),
            Transfer.rest_overdue_at.is_(None),
            Transfer.rest_asked_at < now - wait,
        )
        .order_by(Transfer.rest_asked_at, Transfer.id)
        .limit(limit)
    ).scalars()
    opened = 0
    for tid in list(due):
        claimed = session.execute(
            update(Transfer)
            .where(
                Transfer.id == tid,
                Transfer.rest_asked_by.is_not(None),
                Transfer.rest_overdue_at.is_(None),
            )
            .values(rest_overdue_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # another worker opened it, or the rest was shipped meanwhile
        t = session.get_one(Transfer, tid)
        session.refresh(t)
        asked = t.rest_asked_at
        hours = int((now - asked).total_seconds() // 3600) if asked is not None else 0
        tasks.open_task(
            session,
            t.account_id,
            OVERDUE,
            N_(
                "transfer %(number)s: the rest asked of pick node %(node)s by %(who)s "
                "%(hours)s h ago is not shipped; move the pick to another node, ship the "
                "rest from the hub, or cancel the rest (on the transfer's page)"
            ),
            now,
            params={
                "number": t.number,
                "node": t.pick_node or "-",
                "who": t.rest_asked_by,
                "hours": hours,
            },
            node_id=t.pick_node,
        )
        opened += 1
    return opened


def check_pick_node(session: Session, t: Transfer, node: str) -> None:
    """Refuse a node that is not at the sending warehouse, or said it runs another station
    (as cloud/orders/release.py ``check_pick_node`` for orders; cloud.orders and
    cloud.inbound are one layer and do not import each other)."""
    wh = session.get_one(Warehouse, t.from_warehouse_id)
    assignment = session.get(NodeAssignment, node)
    if assignment is None or assignment.warehouse_id != wh.id:
        raise ConflictError(
            N_(
                "node %(node)s does not serve warehouse %(warehouse)s: only a pick node of "
                "%(warehouse)s picks transfer %(number)s"
            ),
            node=node,
            warehouse=wh.code,
            number=t.number,
        )
    kind = station_kinds(session, [node]).get(node)
    if kind is not None and kind != "pick":
        raise ConflictError(
            N_(
                "node %(node)s runs a %(kind)s station, not a pick station: only a pick node of "
                "%(warehouse)s picks transfer %(number)s"
            ),
            node=node,
            kind=kind,
            warehouse=wh.code,
            number=t.number,
        )


def move_pick(
    session: Session, account_id: int, number: str, node: str, actor: str, now: datetime
) -> Transfer:
    """Lease the transfer's pick to ``node`` (its holder died, or a lead balances the work)."""
    t = transfers.get(session, account_id, number, lock=True)
    if not waits_for_node(t):
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s: its pick moves only while it waits to be "
                "picked (audited, or its rest asked for)"
            ),
            number=number,
            status=t.status,
        )
    if t.pick_node == node:
        raise ConflictError(
            N_("transfer %(number)s is already picked by %(node)s"), number=number, node=node
        )
    check_pick_node(session, t, node)
    t.pick_node = node
    if t.rest_asked_by is not None:
        # The new node gets the whole wait for the rest again (a new overdue task after it).
        t.rest_asked_at, t.rest_overdue_at = now, None
    t.changed_by, t.changed_at = actor, now
    session.flush()
    # Every node of the sending warehouse gets it: the old holder stops offering it (says
    # "put it back" mid-pick), the new one offers it.
    transfer_release.push_outbound(session, t, transfers.lines_of(session, t), now)
    return t
