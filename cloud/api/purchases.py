"""/suppliers and /purchase-orders: purchase orders as documents and receipts against them
(docs/inbound.md). Reading needs stock:read, everything else stock:write, as the stock routes
they replace (/stock/purchases) did."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep, StockRead, StockWrite
from cloud.api.purchase_schemas import (
    PoIn,
    PoLineOut,
    PoOut,
    PoReasonIn,
    PoReceiptIn,
    PoReceiptOut,
    PoRefsIn,
    SupplierIn,
    SupplierOut,
    SupplierPatch,
)
from cloud.db.models import PurchaseOrder, PurchaseReceipt, Supplier, Warehouse
from cloud.inbound import orders, receipts, suppliers

router = APIRouter(prefix="/api/v1", tags=["purchases"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Filter = Annotated[str | None, Query(max_length=120)]


def _supplier(s: Supplier) -> SupplierOut:
    return SupplierOut.model_validate(s, from_attributes=True)


def po_out(session: Session, po: PurchaseOrder) -> PoOut:
    lines = orders.lines_of(session, po)
    sup = session.get(Supplier, po.supplier_id) if po.supplier_id is not None else None
    return PoOut(
        number=po.number,
        warehouse=session.get_one(Warehouse, po.warehouse_id).code,
        supplier=sup.code if sup else None,
        eta=po.eta,
        status=po.status,
        status_reason=po.status_reason,
        tolerance_pct=po.tolerance_pct,
        delivery_refs=list(po.delivery_refs or []),
        total=sum((ln.unit_price * ln.qty for ln in lines), Decimal(0)).quantize(Decimal("0.01")),
        created_by=po.created_by,
        created_at=po.created_at,
        changed_by=po.changed_by,
        changed_at=po.changed_at,
        lines=[
            PoLineOut(
                line_no=ln.line_no,
                sku_code=ln.sku_code,
                qty=ln.qty,
                unit_price=ln.unit_price,
                received=ln.received,
                rejected=ln.rejected,
                open=max(0, ln.qty - ln.received) if ln.in_transit else 0,
                in_transit=ln.in_transit,
            )
            for ln in lines
        ],
    )


def _receipt(r: PurchaseReceipt, number: str, new: bool) -> PoReceiptOut:
    return PoReceiptOut(
        receipt_id=r.receipt_id,
        po_number=number,
        source=r.source,
        lines=r.lines,
        movement_ids=r.movement_ids,
        actor=r.actor,
        created_at=r.created_at,
        new=new,
    )


@router.get("/suppliers")
def list_suppliers(
    session: SessionDep, who: StockRead, limit: Limit = 100, offset: Offset = 0
) -> list[SupplierOut]:
    return [_supplier(s) for s in suppliers.list_suppliers(session, who.account_id, limit, offset)]


@router.post("/suppliers", status_code=status.HTTP_201_CREATED)
def create_supplier(body: SupplierIn, session: SessionDep, who: StockWrite) -> SupplierOut:
    return _supplier(
        suppliers.create(
            session,
            who.account_id,
            body.code,
            body.name,
            body.contact,
            who.actor,
            datetime.now(UTC),
        )
    )


@router.get("/suppliers/{code}")
def get_supplier(code: str, session: SessionDep, who: StockRead) -> SupplierOut:
    return _supplier(suppliers.by_code(session, who.account_id, code))


@router.put("/suppliers/{code}")
def update_supplier(
    code: str, body: SupplierPatch, session: SessionDep, who: StockWrite
) -> SupplierOut:
    return _supplier(
        suppliers.update(
            session, who.account_id, code, body.name, body.contact, who.actor, datetime.now(UTC)
        )
    )


@router.get("/purchase-orders")
def list_purchase_orders(
    session: SessionDep,
    who: StockRead,
    status_: Annotated[str | None, Query(alias="status", max_length=24)] = None,
    supplier: Filter = None,
    warehouse: Filter = None,
    sku_code: Filter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PoOut]:
    return [
        po_out(session, po)
        for po in orders.list_orders(
            session,
            who.account_id,
            status=status_,
            supplier=supplier,
            warehouse=warehouse,
            sku_code=sku_code,
            limit=limit,
            offset=offset,
        )
    ]


@router.post("/purchase-orders", status_code=status.HTTP_201_CREATED)
def create_purchase_order(body: PoIn, session: SessionDep, who: StockWrite) -> PoOut:
    """A purchase order (采购单), a draft unless ``confirm``; confirmed, its lines are in
    transit and the warehouse's nodes get it (``po.release``)."""
    po = orders.create(
        session,
        who.account_id,
        body.number,
        body.warehouse,
        [orders.LineIn(ln.sku_code, ln.qty, ln.unit_price) for ln in body.lines],
        who.actor,
        datetime.now(UTC),
        supplier=body.supplier,
        eta=body.eta,
        tolerance_pct=body.tolerance_pct,
        confirm=body.confirm,
        delivery_refs=body.delivery_refs,
    )
    return po_out(session, po)


@router.get("/purchase-orders/{number}")
def get_purchase_order(number: str, session: SessionDep, who: StockRead) -> PoOut:
    return po_out(session, orders.get(session, who.account_id, number))


@router.put("/purchase-orders/{number}/delivery-refs")
def set_delivery_refs(number: str, body: PoRefsIn, session: SessionDep, who: StockWrite) -> PoOut:
    """Replace the PO's delivery references (ASN numbers, courier waybills); an open PO
    goes to its warehouse's nodes again with them (``po.release``). 422 for an empty,
    repeated or over-long reference or more than 32; 409 once the PO is received, closed
    or cancelled."""
    po = orders.set_delivery_refs(
        session, who.account_id, number, body.delivery_refs, who.actor, datetime.now(UTC)
    )
    return po_out(session, po)


@router.post("/purchase-orders/{number}/confirm")
def confirm_purchase_order(number: str, session: SessionDep, who: StockWrite) -> PoOut:
    return po_out(
        session, orders.confirm(session, who.account_id, number, who.actor, datetime.now(UTC))
    )


@router.post("/purchase-orders/{number}/close")
def close_purchase_order(
    number: str, body: PoReasonIn, session: SessionDep, who: StockWrite
) -> PoOut:
    """结案: what is still open is no longer expected (it leaves the in-transit column)."""
    po = orders.close(session, who.account_id, number, body.reason, who.actor, datetime.now(UTC))
    return po_out(session, po)


@router.post("/purchase-orders/{number}/cancel")
def cancel_purchase_order(
    number: str, body: PoReasonIn, session: SessionDep, who: StockWrite
) -> PoOut:
    """作废: only while nothing has been received against it."""
    po = orders.cancel(session, who.account_id, number, body.reason, who.actor, datetime.now(UTC))
    return po_out(session, po)


@router.get("/purchase-orders/{number}/receipts")
def list_receipts(number: str, session: SessionDep, who: StockRead) -> list[PoReceiptOut]:
    po = orders.get(session, who.account_id, number)
    return [_receipt(r, po.number, False) for r in receipts.receipts_of(session, po)]


@router.post(
    "/purchase-orders/{number}/receipts",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "this receipt id was booked before; nothing was done"}},
)
def book_receipt(
    number: str, body: PoReceiptIn, session: SessionDep, who: StockWrite, response: Response
) -> PoReceiptOut:
    """Goods in against the PO, each line with its QC verdict (pass: sellable or the bin's
    bucket; fail: damaged, with a reason). Booked once per ``receipt_id``: the same receipt
    again answers 200 with what was booked; beyond the tolerance is refused (409)."""
    r, new = receipts.book(
        session,
        who.account_id,
        number,
        body.receipt_id,
        body.warehouse,
        [
            receipts.ReceiptLine(
                ln.sku_code, ln.qty, ln.verdict, ln.reason, ln.bin, tuple(ln.serials)
            )
            for ln in body.lines
        ],
        who.actor,
        datetime.now(UTC),
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    return _receipt(r, number, new)
