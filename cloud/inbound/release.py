"""A purchase order released to its receiving warehouse's nodes (``po.release``), as orders
are (cloud/orders/release.py): every change of the PO's state or counts sends the whole PO
again, and the node's downlink compaction keeps only the newest (cloud/nodes/downlink.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Barcode, PurchaseOrder, PurchaseOrderLine, Sku, Supplier, Warehouse
from cloud.inbound.tolerance import most_allowed
from cloud.nodes import downlink
from protocol.messages import PoRelease, PoReleaseLine

#: PO states as the node sees them: "open" to receive against, else why not.
_NODE_STATUS = {
    "confirmed": "open",
    "partially_received": "open",
    "received": "received",
    "closed": "closed",
    "cancelled": "cancelled",
}


def message(
    session: Session, po: PurchaseOrder, lines: list[PurchaseOrderLine], wh: Warehouse
) -> PoRelease:
    codes = [ln.sku_code for ln in lines]
    names: dict[str, str] = {
        sku: name
        for sku, name in session.execute(
            select(Sku.sku_code, Sku.name).where(
                Sku.account_id == po.account_id, Sku.sku_code.in_(codes)
            )
        ).all()
    }
    barcodes: dict[str, list[str]] = {}
    for sku, code in session.execute(
        select(Barcode.sku_code, Barcode.barcode)
        .where(Barcode.account_id == po.account_id, Barcode.sku_code.in_(codes))
        .order_by(Barcode.barcode)
    ).all():
        barcodes.setdefault(sku, []).append(code)
    sup = session.get(Supplier, po.supplier_id) if po.supplier_id is not None else None
    return PoRelease(
        po_number=po.number,
        warehouse=wh.code,
        status=_NODE_STATUS[po.status],
        supplier=sup.name if sup else None,
        eta=po.eta.isoformat() if po.eta else None,
        tolerance_pct=format(po.tolerance_pct.normalize(), "f"),
        lines=[
            PoReleaseLine(
                sku_code=ln.sku_code,
                name=names.get(ln.sku_code),
                barcodes=barcodes.get(ln.sku_code, [])[:32],
                ordered=ln.qty,
                received=ln.received,
                expected=max(0, ln.qty - ln.received),
                allowed=max(0, most_allowed(ln.qty, po.tolerance_pct) - ln.received),
            )
            for ln in lines
        ],
        delivery_refs=list(po.delivery_refs or []),
    )


def push_po(
    session: Session,
    po: PurchaseOrder,
    lines: list[PurchaseOrderLine],
    wh: Warehouse,
    now: datetime,
) -> None:
    nodes = downlink.nodes_of_warehouse(session, wh.id)
    if nodes:
        downlink.push(session, nodes, "po.release", [message(session, po, lines, wh)], now)


def open_po_releases(session: Session, wh: Warehouse) -> list[PoRelease]:
    """The releases of the warehouse's confirmed and partially received POs, for a node
    newly assigned to it (cloud/sync/assignment.py), as it gets the open orders."""
    pos = session.execute(
        select(PurchaseOrder)
        .where(
            PurchaseOrder.warehouse_id == wh.id,
            PurchaseOrder.status.in_(("confirmed", "partially_received")),
        )
        .order_by(PurchaseOrder.id)
    ).scalars()
    out = []
    for po in pos:
        lines = list(
            session.execute(
                select(PurchaseOrderLine)
                .where(PurchaseOrderLine.po_id == po.id)
                .order_by(PurchaseOrderLine.line_no)
            ).scalars()
        )
        out.append(message(session, po, lines, wh))
    return out
