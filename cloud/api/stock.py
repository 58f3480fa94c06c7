"""/stock: the F9/F10 views, the ledger, receipts, purchases in transit, transfers, reversals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status

from cloud.api.deps import SessionDep, StockRead, StockWrite
from cloud.api.responses import JsonRows
from cloud.api.schemas import (
    AdjustIn,
    InboundLine,
    MovementOut,
    MovementRef,
    PurchaseIn,
    ReasonIn,
    ReceiptIn,
    TransferIn,
)
from cloud.auth import Principal
from cloud.inbound import orders as inbound_orders
from cloud.inbound import receipts, suppliers
from cloud.orders import reversals
from cloud.stock import ledger as stock
from cloud.stock import views as stock_views
from cloud.stock import warehouses

router = APIRouter(prefix="/api/v1/stock", tags=["stock"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Keywords = Annotated[
    str | None, Query(max_length=200, description="space-separated keywords, any order")
]
DEFAULT_COLUMNS = "name,on_hand,reserved,available,inbound,damaged,channel_stock"


def _override(who: Principal, wanted: bool) -> bool:
    if wanted and "stock:override" not in who.scopes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {who.role} lacks scope stock:override"
        )
    return wanted


def _cols(columns: str) -> list[str]:
    return [c.strip() for c in columns.split(",") if c.strip()]


@router.get("/overview", response_model=list[dict[str, Any]])
def overview(
    session: SessionDep,
    who: StockRead,
    q: Keywords = None,
    limit: Limit = 100,
    offset: Offset = 0,
    columns: Annotated[str, Query(max_length=500)] = DEFAULT_COLUMNS + ",sales_7d,purchases",
) -> Response:
    """F9 总仓库: every warehouse at once (main, damaged, components), with the breakdown."""
    return JsonRows(
        stock_views.stock_view(
            session,
            who.account_id,
            datetime.now(UTC),
            warehouse=None,
            query=q,
            columns=_cols(columns),
            limit=limit,
            offset=offset,
        )
    )


@router.get("/warehouses/{code}", response_model=list[dict[str, Any]])
def warehouse_view(
    code: str,
    session: SessionDep,
    who: StockRead,
    q: Keywords = None,
    limit: Limit = 100,
    offset: Offset = 0,
    columns: Annotated[
        str,
        Query(
            max_length=500, description=f"comma-separated, from: {', '.join(stock_views.COLUMNS)}"
        ),
    ] = DEFAULT_COLUMNS,
) -> Response:
    """F10 分仓库存: one warehouse, the columns the caller chooses.

    Both views answer with ``JsonRows``: a route that returns plain data has FastAPI check
    and encode it on a handler thread of its own, after the handler, while the request's
    transaction stays open. Under load every thread waited for a pooled connection that
    such requests held while they waited for a thread: the worker stalled until the pool's
    timeout (500s, then the same again).
    """
    return JsonRows(
        stock_views.stock_view(
            session,
            who.account_id,
            datetime.now(UTC),
            warehouse=code,
            query=q,
            columns=_cols(columns),
            limit=limit,
            offset=offset,
        )
    )


@router.get("/movements")
def movements(
    session: SessionDep,
    who: StockRead,
    sku_code: Annotated[str | None, Query(max_length=120)] = None,
    document: Annotated[str | None, Query(max_length=120)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[MovementOut]:
    rows = stock.movements(
        session, who.account_id, sku_code=sku_code, document=document, limit=limit, offset=offset
    )
    codes = {w.id: w.code for w in warehouses.list_warehouses(session, who.account_id)}
    fields = [f for f in MovementOut.model_fields if f != "warehouse"]
    return [
        MovementOut.model_validate(
            {**{f: getattr(m, f) for f in fields}, "warehouse": codes[m.warehouse_id]}
        )
        for m in rows
    ]


@router.post("/receipts", status_code=status.HTTP_201_CREATED)
def receive(body: ReceiptIn, session: SessionDep, who: StockWrite) -> MovementRef:
    """Goods in. With ``po_number`` this is a one-line receipt against that purchase order
    (kept for existing callers; POST /purchase-orders/{number}/receipts takes several lines,
    QC verdicts and a receipt id that makes a resend harmless)."""
    now = datetime.now(UTC)
    if body.po_number is not None:
        r, _ = receipts.book(
            session,
            who.account_id,
            body.po_number,
            f"stock-{uuid.uuid4().hex[:16]}",
            body.warehouse,
            [receipts.ReceiptLine(body.sku_code, body.qty, bin=body.bin)],
            who.actor,
            now,
        )
        return MovementRef(ids=r.movement_ids)
    mid = stock.receive(
        session,
        who.account_id,
        body.warehouse,
        body.sku_code,
        body.qty,
        who.actor,
        now,
        bin_code=body.bin,
        reason=body.reason,
    )
    return MovementRef(ids=[mid])


@router.post("/purchases", status_code=status.HTTP_201_CREATED, deprecated=True)
def purchase(body: PurchaseIn, session: SessionDep, who: StockWrite) -> dict[str, int]:
    """A purchase in transit (采购在途): now a confirmed purchase order without prices (kept
    for existing callers; use POST /purchase-orders). ``supplier`` is a supplier's code or
    name; an unknown one is added as a supplier."""
    now = datetime.now(UTC)
    sup = (
        suppliers.by_code_or_name(session, who.account_id, body.supplier, who.actor, now)
        if body.supplier
        else None
    )
    po = inbound_orders.create(
        session,
        who.account_id,
        body.po_number,
        body.warehouse,
        _merged(body.lines),
        who.actor,
        now,
        supplier=sup.code if sup else None,
        eta=body.eta,
        confirm=True,
    )
    return {"lines": len(inbound_orders.lines_of(session, po))}


def _merged(lines: list[InboundLine]) -> list[inbound_orders.LineIn]:
    """The old form allowed a SKU on several lines; a PO line holds each SKU once."""
    qty: dict[str, int] = {}
    for ln in lines:
        qty[ln.sku_code] = qty.get(ln.sku_code, 0) + ln.qty
    return [inbound_orders.LineIn(s, q, Decimal(0)) for s, q in qty.items()]


@router.post("/transfers", status_code=status.HTTP_201_CREATED)
def transfer(body: TransferIn, session: SessionDep, who: StockWrite) -> MovementRef:
    """调拨: outbound at the source and inbound at the receiver, reversed one by one."""
    out, inn = stock.transfer(
        session,
        who.account_id,
        body.from_warehouse,
        body.to_warehouse,
        body.sku_code,
        body.qty,
        who.actor,
        datetime.now(UTC),
        from_bin=body.from_bin,
        to_bin=body.to_bin,
        reason=body.reason,
    )
    return MovementRef(ids=[out, inn])


@router.post("/adjustments", status_code=status.HTTP_201_CREATED)
def adjust(body: AdjustIn, session: SessionDep, who: StockWrite) -> MovementRef:
    mid = stock.adjust(
        session,
        who.account_id,
        body.warehouse,
        body.sku_code,
        body.delta,
        body.reason,
        who.actor,
        datetime.now(UTC),
        bin_code=body.bin,
        override=_override(who, body.override),
        bucket=body.bucket,
    )
    return MovementRef(ids=[mid])


@router.post("/movements/{movement_id}/reverse", status_code=status.HTTP_201_CREATED)
def reverse(movement_id: str, body: ReasonIn, session: SessionDep, who: StockWrite) -> MovementRef:
    """冲销: a compensating movement (a transfer's outbound, an adjustment); once only."""
    mid = stock.reverse_movement(
        session,
        who.account_id,
        movement_id,
        body.reason,
        who.actor,
        datetime.now(UTC),
        override=_override(who, body.override),
    )
    return MovementRef(ids=[mid])


@router.post("/movements/{movement_id}/cancel-receipt", status_code=status.HTTP_201_CREATED)
def cancel_receipt(
    movement_id: str, body: ReasonIn, session: SessionDep, who: StockWrite
) -> MovementRef:
    """取消入库: undo a receipt (or a transfer's inbound); its PO's in-transit reopens."""
    mid = reversals.cancel_receipt(
        session,
        who.account_id,
        movement_id,
        body.reason,
        who.actor,
        datetime.now(UTC),
        override=_override(who, body.override),
    )
    return MovementRef(ids=[mid])
