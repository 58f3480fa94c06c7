"""A transfer released to the nodes (cloud/nodes/downlink.py ``change_key`` keeps the newest
of each):

* to the **receiving** warehouse's nodes once shipped (``transfer.release``), as purchase
  orders are (cloud/inbound/release.py): every change of what is in transit sends the whole
  transfer again;
* to the **sending** warehouse's nodes once audited (``transfer.outbound``): its pick node
  (the transfer's pick lease, chosen as an order's among the nodes that said they run a
  pick station) picks it and reports ``transfer.shipped`` (cloud/inbound/transfer_ship.py);
  shipping, cancelling and 冲销出库 send it again, so a node stops or starts offering it.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Barcode, NodeAssignment, Sku, Warehouse
from cloud.db.transfers import Transfer, TransferLine
from cloud.inbound import transfer_serials
from cloud.nodes import downlink
from cloud.nodes.registry import station_kinds
from protocol.messages import PoReleaseLine, TransferOutbound, TransferOutboundLine, TransferRelease

#: Transfer states as the receiving node sees them (only shipped ones are ever sent).
_NODE_STATUS = {
    "shipped": "open",
    "partially_received": "open",
    "done": "received",
    "audited": "withdrawn",
    "cancelled": "withdrawn",
}


def message(session: Session, t: Transfer, lines: list[TransferLine]) -> TransferRelease:
    codes = [ln.sku_code for ln in lines]
    names: dict[str, str] = {
        sku: name
        for sku, name in session.execute(
            select(Sku.sku_code, Sku.name).where(
                Sku.account_id == t.account_id, Sku.sku_code.in_(codes)
            )
        ).all()
    }
    barcodes: dict[str, list[str]] = {}
    for sku, code in session.execute(
        select(Barcode.sku_code, Barcode.barcode)
        .where(Barcode.account_id == t.account_id, Barcode.sku_code.in_(codes))
        .order_by(Barcode.barcode)
    ).all():
        barcodes.setdefault(sku, []).append(code)
    # The receiving station takes only the serials that left and have not arrived.
    serials = transfer_serials.in_transit(session, t, lines)
    return TransferRelease(
        transfer_number=t.number,
        warehouse=session.get_one(Warehouse, t.to_warehouse_id).code,
        from_warehouse=session.get_one(Warehouse, t.from_warehouse_id).code,
        status=_NODE_STATUS.get(t.status, "withdrawn"),
        lines=[
            PoReleaseLine(
                sku_code=ln.sku_code,
                name=names.get(ln.sku_code),
                barcodes=barcodes.get(ln.sku_code, [])[:32],
                ordered=ln.shipped,
                received=ln.received,
                expected=ln.shipped - ln.received,
                allowed=ln.shipped - ln.received,
                serials=serials.get(ln.line_no, [])[:10_000],
            )
            for ln in lines
        ],
    )


def push(session: Session, t: Transfer, lines: list[TransferLine], now: datetime) -> None:
    """Send the transfer to the receiver's nodes (once it has been shipped at least once)."""
    if t.shipments == 0:
        return
    nodes = downlink.nodes_of_warehouse(session, t.to_warehouse_id)
    if nodes:
        downlink.push(session, nodes, "transfer.release", [message(session, t, lines)], now)


def open_releases(session: Session, wh: Warehouse) -> list[TransferRelease]:
    """The releases of the transfers in transit to the warehouse, for a node newly assigned
    to it (cloud/sync/assignment.py), as it gets the open POs."""
    out = []
    for t in session.execute(
        select(Transfer)
        .where(
            Transfer.to_warehouse_id == wh.id,
            Transfer.status.in_(("shipped", "partially_received")),
        )
        .order_by(Transfer.id)
    ).scalars():
        lines = list(
            session.execute(
                select(TransferLine)
                .where(TransferLine.transfer_id == t.id)
                .order_by(TransferLine.line_no)
            ).scalars()
        )
        out.append(message(session, t, lines))
    return out


# --- the sender's side: transfer.outbound --------------------------------------------------


def choose_pick_node(session: Session, t: Transfer) -> str | None:
    """The sending warehouse's pick node for this transfer: a stable hash of its number over
    the nodes assigned there that said they run a pick station (as an order's pick lease,
    cloud/orders/release.py ``choose``); ``None`` when there is none."""
    assigned = list(
        session.execute(
            select(NodeAssignment.node_id)
            .where(NodeAssignment.warehouse_id == t.from_warehouse_id)
            .order_by(NodeAssignment.node_id)
        ).scalars()
    )
    kinds = station_kinds(session, assigned)
    picks = [n for n in assigned if kinds.get(n) == "pick"]
    return picks[zlib.crc32(t.number.encode()) % len(picks)] if picks else None


def outbound(session: Session, t: Transfer, lines: list[TransferLine]) -> TransferOutbound:
    """The transfer as its sending warehouse's nodes see it. Open (the pick node picks it)
    while audited, or while a lead has asked for the rest of a short shipment
    (cloud/inbound/transfer_pick.py): then the lines are what is left of each, under the
    next shipment number, so a node that picked shipment N offers shipment N+1."""
    if t.status == "audited" or (t.rest_asked_by is not None and t.status != "cancelled"):
        status, shipment = "open", t.shipments + 1
    elif t.status in ("shipped", "partially_received", "done"):
        status, shipment = "shipped", max(1, t.shipments)
    else:
        status, shipment = "withdrawn", t.shipments + 1
    return TransferOutbound(
        transfer_number=t.number,
        warehouse=session.get_one(Warehouse, t.from_warehouse_id).code,
        to_warehouse=session.get_one(Warehouse, t.to_warehouse_id).code,
        status=status,
        shipment=shipment,
        from_bin=t.from_bin,
        pick_node=t.pick_node,
        lines=[
            TransferOutboundLine(
                line_no=ln.line_no,
                sku_code=ln.sku_code,
                qty=ln.qty - ln.shipped if status == "open" else ln.qty,
            )
            for ln in lines
            if ln.qty > ln.shipped or status != "open"
        ],
    )


def push_outbound(session: Session, t: Transfer, lines: list[TransferLine], now: datetime) -> None:
    """Send the transfer to the sender's nodes (once audited: a draft is never released).
    An audited transfer without a pick node gets one chosen now, if the warehouse has one."""
    if t.audited_at is None:
        return
    if t.status == "audited" and t.pick_node is None:
        t.pick_node = choose_pick_node(session, t)
    nodes = downlink.nodes_of_warehouse(session, t.from_warehouse_id)
    if nodes:
        downlink.push(session, nodes, "transfer.outbound", [outbound(session, t, lines)], now)


def open_outbounds(session: Session, wh: Warehouse) -> list[TransferOutbound]:
    """The transfers leaving the warehouse that wait for a node's shipment (audited, or
    their rest asked for), for a node newly assigned to it."""
    out = []
    for t in session.execute(
        select(Transfer)
        .where(
            Transfer.from_warehouse_id == wh.id,
            (Transfer.status == "audited") | Transfer.rest_asked_by.is_not(None),
        )
        .order_by(Transfer.id)
    ).scalars():
        lines = list(
            session.execute(
                select(TransferLine)
                .where(TransferLine.transfer_id == t.id)
                .order_by(TransferLine.line_no)
            ).scalars()
        )
        out.append(outbound(session, t, lines))
    return out
