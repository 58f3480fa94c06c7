"""A shipped transfer released to the receiving warehouse's nodes (``transfer.release``), as
purchase orders are (cloud/inbound/release.py): every change of what is in transit sends the
whole transfer again, and the node's downlink compaction keeps the newest
(cloud/nodes/downlink.py ``change_key``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Barcode, Sku, Warehouse
from cloud.db.transfers import Transfer, TransferLine
from cloud.nodes import downlink
from protocol.messages import PoReleaseLine, TransferRelease

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
