"""An approved after-sales request released to the nodes of the warehouse its goods come
back to (``return.release``), as purchase orders are (cloud/inbound/release.py): every
change of the request sends it again, keyed by request, so the node's compacted downlink
keeps only the newest (cloud/nodes/downlink.py ``change_key``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.aftersales.requests import lines_of
from cloud.db.aftersales import AftersalesRequest
from cloud.db.models import Barcode, SalesOrder, Sku, Warehouse
from cloud.nodes import downlink
from protocol.messages import ReturnRelease, ReturnReleaseLine

#: Request states as the node sees them: "open" to receive against, else why not.
_NODE_STATUS: Final[dict[str, Literal["open", "received", "closed"]]] = {
    "approved": "open",
    "received": "received",
    "closed": "closed",
    "rejected": "closed",
}


def message(session: Session, req: AftersalesRequest) -> ReturnRelease:
    lines = lines_of(session, req)
    codes = [ln.sku_code for ln in lines]
    names = dict(
        session.execute(
            select(Sku.sku_code, Sku.name).where(
                Sku.account_id == req.account_id, Sku.sku_code.in_(codes)
            )
        ).all()
    )
    barcodes: dict[str, list[str]] = {}
    for sku, code in session.execute(
        select(Barcode.sku_code, Barcode.barcode)
        .where(Barcode.account_id == req.account_id, Barcode.sku_code.in_(codes))
        .order_by(Barcode.barcode)
    ).all():
        barcodes.setdefault(sku, []).append(code)
    o = session.get_one(SalesOrder, req.order_id)
    kind: Literal["return", "exchange"] = "exchange" if req.kind == "exchange" else "return"
    return ReturnRelease(
        request=req.number,
        order_id=req.order_no,
        warehouse=session.get_one(Warehouse, req.warehouse_id).code,
        kind=kind,
        status=_NODE_STATUS[req.status],
        return_waybill=req.return_waybill,
        tracking_number=o.tracking_number,
        lines=[
            ReturnReleaseLine(
                line_no=ln.line_no,
                sku_code=ln.sku_code,
                name=names.get(ln.sku_code),
                barcodes=barcodes.get(ln.sku_code, [])[:32],
                qty=ln.qty,
            )
            for ln in lines
        ],
    )


def push(session: Session, req: AftersalesRequest, now: datetime) -> None:
    """Send the request's state to its warehouse's nodes (refund-only requests never go)."""
    if req.kind == "refund_only" or req.status == "requested":
        return
    nodes = downlink.nodes_of_warehouse(session, req.warehouse_id)
    if nodes:
        downlink.push(session, nodes, "return.release", [message(session, req)], now)


def open_releases(session: Session, wh: Warehouse) -> list[ReturnRelease]:
    """The warehouse's approved returns and exchanges, for a node newly assigned to it."""
    reqs = session.execute(
        select(AftersalesRequest)
        .where(
            AftersalesRequest.warehouse_id == wh.id,
            AftersalesRequest.status == "approved",
            AftersalesRequest.kind != "refund_only",
        )
        .order_by(AftersalesRequest.id)
    ).scalars()
    return [message(session, r) for r in reqs]
