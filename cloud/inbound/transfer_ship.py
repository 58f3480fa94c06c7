"""A transfer shipped from the sender's node (``transfer.shipped``; docs/inbound.md "Transfers").

The audited transfer is released to the sending warehouse's nodes (``transfer.outbound``,
cloud/inbound/transfer_release.py); its pick node picks the lines along a route and reports
what left the building, per line and bin. The hub books that once, under the node's
shipment id:

* the same shipment id again (a node resending, a restored node replaying) books nothing:
  the same lines answer what was booked, other lines are refused;
* the shipment becomes the transfer's next shipment (event keys ``tr:ACCOUNT:NUMBER:sN:LINE:I``,
  one per line and bin, so 冲销出库 finds and reverses them as a hub shipment's);
* each line ships what was picked, which may be less than the line (a short pick: a task
  for a lead; the rest stays at the sender until a lead asks the node for it,
  cloud/inbound/transfer_pick.py, and it ships as the next shipment); nothing picked at
  all ships nothing;
* the goods physically left: a bin or stock the book thinks too small is booked with a
  logged override and a ``stock_variance`` task, as a node's picks are (cloud/facts/).

Refused, booking nothing (cloud/facts/ turns the refusal into a task, the goods are on
a trolley at the sender's dock): a transfer the hub does not know, not audited (shipped
already, from the hub or another node, with no rest asked for; cancelled), a node not at
the sending warehouse or not the transfer's pick node, a shipment number other than the
one the transfer waits for (the pick answered an older release), a line or SKU not on the
transfer, more than is left of a line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import NodeAssignment, Warehouse
from cloud.db.transfers import Transfer, TransferShipment
from cloud.errors import N_, ConflictError, sentence
from cloud.inbound import transfer_pick, transfer_release, transfers
from cloud.stock.ledger import Move, post_as_happened
from protocol.messages import TransferShippedPayload

SHORT: Final = "pick_exception"


def _lines(p: TransferShippedPayload) -> list[dict[str, Any]]:
    return [ln.model_dump(mode="json") for ln in p.lines]


def book(
    session: Session,
    account_id: int,
    node: str,
    p: TransferShippedPayload,
    now: datetime,
    *,
    event_id: str | None = None,
) -> tuple[TransferShipment, bool]:
    """Book the node's shipment of a transfer; return it and whether it is new."""
    t = transfers.get(session, account_id, p.transfer_number, lock=True)
    before = session.execute(
        select(TransferShipment).where(
            TransferShipment.account_id == account_id,
            TransferShipment.shipment_id == p.shipment_id,
        )
    ).scalar_one_or_none()
    if before is not None:
        if before.transfer_id == t.id and before.lines == _lines(p):
            return before, False
        raise ConflictError(
            N_(
                "shipment %(shipment)s was already booked with other lines or for another "
                "transfer; a new shipment needs a new id"
            ),
            shipment=p.shipment_id,
        )
    sender = session.get_one(Warehouse, t.from_warehouse_id)
    at = session.execute(
        select(Warehouse.code)
        .join(NodeAssignment, NodeAssignment.warehouse_id == Warehouse.id)
        .where(NodeAssignment.node_id == node, Warehouse.account_id == account_id)
    ).scalar_one_or_none()
    if at != sender.code or p.warehouse != sender.code:
        raise ConflictError(
            N_(
                "transfer %(number)s leaves from warehouse %(home)s; node %(node)s is at "
                "%(at)s and reported warehouse %(said)s"
            ),
            number=t.number,
            home=sender.code,
            node=node,
            at=at or "none",
            said=p.warehouse,
        )
    if not transfer_pick.waits_for_node(t):
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s; only an audited transfer, or one whose rest "
                "a lead asked for, is shipped"
            ),
            number=t.number,
            status=t.status,
        )
    if t.pick_node is not None and t.pick_node != node:
        raise ConflictError(
            N_("transfer %(number)s is picked by node %(holder)s, not by %(node)s"),
            number=t.number,
            holder=t.pick_node,
            node=node,
        )
    if p.shipment != t.shipments + 1:
        raise ConflictError(
            N_(
                "the pick answered shipment %(said)s of transfer %(number)s, which waits for "
                "shipment %(next)s (an older release)"
            ),
            said=p.shipment,
            number=t.number,
            next=t.shipments + 1,
        )
    _check_serials(t, p)
    t_lines = {ln.line_no: ln for ln in transfers.lines_of(session, t)}
    picked: dict[int, int] = {}
    for ln in p.lines:
        tl = t_lines.get(ln.line_no)
        if tl is None or tl.sku_code != ln.sku_code:
            raise ConflictError(
                N_("%(sku_code)s is not line %(line)s of transfer %(number)s"),
                sku_code=ln.sku_code,
                line=ln.line_no,
                number=t.number,
            )
        picked[ln.line_no] = picked.get(ln.line_no, 0) + ln.qty
    for line_no, qty in picked.items():
        tl = t_lines[line_no]
        if qty > tl.qty - tl.shipped:
            raise ConflictError(
                N_(
                    "%(sku)s on transfer %(number)s: the line is %(qty)s, %(shipped)s shipped "
                    "before; the pick reports %(picked)s"
                ),
                sku=tl.sku_code,
                number=t.number,
                qty=tl.qty,
                shipped=tl.shipped,
                picked=qty,
            )
    row = TransferShipment(
        account_id=account_id,
        shipment_id=p.shipment_id,
        transfer_id=t.id,
        shipment=None,
        node_id=node,
        lines=_lines(p),
        movement_ids=[],
        created_at=now,
    )
    session.add(row)
    actor = f"node:{node}"
    if not any(picked.values()):
        rest = t.rest_asked_by is not None
        if rest:
            # The rest is not there either: the hub waits for it no more (a lead asks again).
            t.rest_asked_by = t.rest_asked_at = t.rest_overdue_at = None
        tasks.open_task(
            session,
            account_id,
            SHORT,
            N_(
                "transfer %(number)s: %(node)s picked nothing of the rest (every line short); "
                "the rest stays at the sender: ask for it again once it is found"
            )
            if rest
            else N_(
                "transfer %(number)s: %(node)s picked nothing of it (every line short); it "
                "stays audited: ship it from the hub or cancel it"
            ),
            now,
            params={"number": t.number, "node": node},
            node_id=node,
            event_id=event_id,
        )
        session.flush()
        transfer_release.push_outbound(session, t, transfers.lines_of(session, t), now)
        return row, True
    t.shipments += 1
    moves = [
        Move(
            t.from_warehouse_id,
            ln.sku_code,
            "transfer",
            sentence(
                N_("transfer %(number)s shipped by %(who)s"),
                number=t.number,
                who=p.operator or node,
            ),
            transfers.document(t.number),
            actor,
            qty_delta=-ln.qty,
            bin_code=ln.bin,
            bin_delta=-ln.qty if ln.bin else 0,
            event_key=f"tr:{account_id}:{t.number}:s{t.shipments}:{ln.line_no}:{i}",
        )
        for i, ln in enumerate(p.lines)
        if ln.qty
    ]
    why = post_as_happened(session, account_id, moves, now)
    tasks.open_override_task(
        session,
        account_id,
        tasks.sentence(N_("shipment of transfer %(number)s"), number=t.number),
        why,
        now,
        node_id=node,
    )
    for line_no, qty in picked.items():
        t_lines[line_no].shipped += qty
    short = [tl for tl in t_lines.values() if tl.shipped < tl.qty]
    if short:
        tasks.open_task(
            session,
            account_id,
            SHORT,
            N_(
                "transfer %(number)s shipped short by %(node)s: %(lines)s; the rest stays at "
                "the sender (ship the rest from the transfer's page once it is found)"
            ),
            now,
            params={
                "number": t.number,
                "node": node,
                "lines": [
                    tasks.sentence(
                        N_("%(sku)s %(shipped)s of %(qty)s"),
                        sku=tl.sku_code,
                        shipped=tl.shipped,
                        qty=tl.qty,
                    )
                    for tl in short[:50]
                ],
            },
            node_id=node,
            event_id=event_id,
        )
    row.shipment, row.movement_ids = t.shipments, [m.id for m in moves]
    # A transfer leased to no node (none was known at the audit) is held by the node that
    # shipped it: the rest of a short pick is asked of it (cloud/inbound/transfer_pick.py).
    t.pick_node = t.pick_node or node
    t.status, t.shipped_by, t.shipped_at = "shipped", actor, now
    t.rest_asked_by = t.rest_asked_at = t.rest_overdue_at = None
    t.changed_by, t.changed_at = actor, now
    lines = transfers.settle(session, t, now)
    transfer_release.push_outbound(session, t, lines, now)
    return row, True


def _check_serials(t: Transfer, p: TransferShippedPayload) -> None:
    """The serials the pick scanned (a serial-tracked SKU's units): one per unit, each once in
    the shipment. The station refuses both at the scan (edge/stations/pick.py); a fact that
    breaks them is not a pick's, and is refused whole."""
    seen: set[str] = set()
    for ln in p.lines:
        if len(ln.serials) > ln.qty:
            raise ConflictError(
                N_(
                    "line %(line)s of the shipment of transfer %(number)s lists %(serials)s "
                    "serials for %(qty)s units; one serial is one unit"
                ),
                line=ln.line_no,
                number=t.number,
                serials=len(ln.serials),
                qty=ln.qty,
            )
        for s in ln.serials:
            if s in seen:
                raise ConflictError(
                    N_(
                        "serial %(serial)s appears twice in the shipment of transfer %(number)s; "
                        "one unit leaves once"
                    ),
                    serial=s,
                    number=t.number,
                )
            seen.add(s)


def shipments_of(session: Session, t: Transfer) -> list[TransferShipment]:
    """The node shipments reported for the transfer, oldest first (the transfer page)."""
    return list(
        session.execute(
            select(TransferShipment)
            .where(TransferShipment.transfer_id == t.id)
            .order_by(TransferShipment.created_at, TransferShipment.id)
        ).scalars()
    )
