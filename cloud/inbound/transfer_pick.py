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

Each is refused, changing nothing, for a transfer that waits for no node shipment (a draft,
a cancelled one, one shipped whole or received), or a node that is not a pick node of the
sending warehouse.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cloud.db.models import NodeAssignment, Warehouse
from cloud.db.transfers import Transfer
from cloud.errors import N_, ConflictError
from cloud.inbound import transfer_release, transfers
from cloud.nodes.registry import station_kinds


def waits_for_node(t: Transfer) -> bool:
    """Whether the hub waits for a node's shipment of the transfer (its pick is open)."""
    return t.status == "audited" or t.rest_asked_by is not None


def ship_rest(
    session: Session, account_id: int, number: str, actor: str, now: datetime
) -> Transfer:
    """Ask the pick node to ship what is left of a transfer shipped short (see above)."""
    t = transfers.get(session, account_id, number, lock=True)
    if t.status not in (*transfers.RECEIVING, "done"):
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s; only a transfer shipped short has a rest to "
                "ship (an audited one ships whole)"
            ),
            number=number,
            status=t.status,
        )
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
    lines = transfers.lines_of(session, t)
    if all(ln.shipped >= ln.qty for ln in lines):
        raise ConflictError(
            N_("transfer %(number)s was shipped whole; nothing of it is left to ship"),
            number=number,
        )
    if t.pick_node is None:
        t.pick_node = transfer_release.choose_pick_node(session, t)
    if t.pick_node is None:
        raise ConflictError(
            N_(
                "transfer %(number)s: warehouse %(warehouse)s has no pick node to ship the rest; "
                "assign one, then ask again"
            ),
            number=number,
            warehouse=session.get_one(Warehouse, t.from_warehouse_id).code,
        )
    t.rest_asked_by, t.rest_asked_at = actor, now
    t.changed_by, t.changed_at = actor, now
    session.flush()
    transfer_release.push_outbound(session, t, lines, now)
    return t


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
    t.changed_by, t.changed_at = actor, now
    session.flush()
    # Every node of the sending warehouse gets it: the old holder stops offering it (says
    # "put it back" mid-pick), the new one offers it.
    transfer_release.push_outbound(session, t, transfers.lines_of(session, t), now)
    return t
