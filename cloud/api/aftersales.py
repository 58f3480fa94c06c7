"""/aftersales: after-sales requests (售后单) — returns, exchanges, refunds only — their
audit, their receipt at the returns table, and customer service's view of their state
(docs/inbound.md "Returns and exchanges").

Scopes: reading needs orders:read; creating and closing orders:write; the audit (approve,
reject) and the settings orders:audit; receiving goods stock:write (the warehouse's, as PO
receipts); the refund instructions finance:read."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.aftersales import requests, routes, workflow
from cloud.api.deps import FinanceRead, OrdersAudit, OrdersRead, OrdersWrite, SessionDep, StockWrite
from cloud.db.aftersales import AftersalesRefund, AftersalesRequest
from cloud.db.models import Warehouse
from cloud.stock.warehouses import get_warehouse
from protocol.messages import Barcode, Code, OrderId, SkuCode

router = APIRouter(prefix="/api/v1", tags=["aftersales"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=300)]
StrictQty = Annotated[int, Field(strict=True, ge=1, le=100_000)]
Units = Annotated[int, Field(strict=True, ge=0, le=100_000)]
Kind = Literal["return", "exchange", "refund_only"]


class RequestLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_line_id: Code
    qty: StrictQty
    #: For an exchange: what to send instead (the same SKU when absent).
    exchange_sku_code: SkuCode | None = None


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_no: OrderId
    kind: Kind
    lines: list[RequestLineIn] = Field(min_length=1, max_length=500)
    #: The request's number; "AS-<order>-<n>" when absent.
    number: Code | None = None
    reason: Text | None = None
    return_waybill: Barcode | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text | None = None


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text


class ReturnLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_no: Annotated[int, Field(strict=True, ge=1, le=500)]
    sku_code: SkuCode
    sellable: Units = 0
    damaged: Units = 0
    missing: Units = 0
    reason: Text | None = None


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt_id: Code
    warehouse: Code
    return_waybill: Barcode | None = None
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)


class SettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The damaged warehouse (售后坏品仓) damaged returns go to; None: the damaged bucket
    #: of the warehouse they arrive at.
    damaged_warehouse: Code | None = None
    exchange_at: Literal["received", "approval"] = "received"


class SettingOut(BaseModel):
    damaged_warehouse: str | None
    exchange_at: str


class LineOut(BaseModel):
    line_no: int
    order_line_id: str
    sku_code: str
    qty: int
    exchange_sku_code: str | None
    amount: Decimal
    sellable: int
    damaged: int
    missing: int
    damage_reason: str | None


class LogOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    at: datetime


class RefundOut(BaseModel):
    request: str
    order_no: str
    line_no: int
    sku_code: str
    qty: int
    amount: Decimal
    currency: str
    #: pending, confirmed (in the books: ``entry_id``) or paid (by settlement row ``paid_by``).
    status: str
    created_at: datetime
    entry_id: int | None = None
    paid_by: str | None = None


class RequestOut(BaseModel):
    number: str
    kind: str
    source: str
    order_no: str
    warehouse: str
    status: str
    reason: str | None
    return_waybill: str | None
    receipt_id: str | None
    exchange_order_no: str | None
    total: Decimal
    created_by: str
    created_at: datetime
    changed_by: str
    changed_at: datetime
    lines: list[LineOut]
    history: list[LogOut] = []
    refunds: list[RefundOut] = []
    #: After a receipt: False when this receipt id was booked before and nothing was done.
    new: bool | None = None


def _out(session: Session, req: AftersalesRequest, *, full: bool = True) -> RequestOut:
    lines = requests.lines_of(session, req)
    return RequestOut(
        number=req.number,
        kind=req.kind,
        source=req.source,
        order_no=req.order_no,
        warehouse=session.get_one(Warehouse, req.warehouse_id).code,
        status=req.status,
        reason=req.reason,
        return_waybill=req.return_waybill,
        receipt_id=req.receipt_id,
        exchange_order_no=req.exchange_order_no,
        total=sum((ln.amount for ln in lines), Decimal("0.00")),
        created_by=req.created_by,
        created_at=req.created_at,
        changed_by=req.changed_by,
        changed_at=req.changed_at,
        lines=[LineOut.model_validate(ln, from_attributes=True) for ln in lines],
        history=[
            LogOut.model_validate(h, from_attributes=True) for h in requests.history(session, req)
        ]
        if full
        else [],
        refunds=[_refund(r, req.number) for r in requests.refunds_of(session, req)] if full else [],
    )


def _refund(r: AftersalesRefund, number: str) -> RefundOut:
    return RefundOut(
        request=number,
        order_no=r.order_no,
        line_no=r.line_no,
        sku_code=r.sku_code,
        qty=r.qty,
        amount=r.amount,
        currency=r.currency,
        status=r.status,
        created_at=r.created_at,
        entry_id=r.entry_id,
        paid_by=r.paid_by,
    )


@router.post("/aftersales", status_code=status.HTTP_201_CREATED)
def create_request(body: RequestIn, session: SessionDep, who: OrdersWrite) -> RequestOut:
    """An after-sales request against a shipped order's lines (never more than each line
    shipped, less what live requests asked back already)."""
    req, _ = requests.create(
        session,
        who.account_id,
        body.order_no,
        body.kind,
        [requests.LineIn(ln.order_line_id, ln.qty, ln.exchange_sku_code) for ln in body.lines],
        who.actor,
        datetime.now(UTC),
        number=body.number,
        reason=body.reason,
        return_waybill=body.return_waybill,
    )
    return _out(session, req)


@router.get("/aftersales")
def list_requests(
    session: SessionDep,
    who: OrdersRead,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[RequestOut]:
    return [
        _out(session, r, full=False)
        for r in requests.list_requests(
            session,
            who.account_id,
            status=status_,
            order_no=order_no,
            kind=kind,
            limit=limit,
            offset=offset,
        )
    ]


@router.get("/aftersales-settings")
def get_settings(session: SessionDep, who: OrdersRead) -> SettingOut:
    row = requests.setting(session, who.account_id)
    wh = (
        session.get(Warehouse, row.damaged_warehouse_id)
        if row and row.damaged_warehouse_id
        else None
    )
    return SettingOut(
        damaged_warehouse=wh.code if wh else None,
        exchange_at=row.exchange_at if row else "received",
    )


@router.put("/aftersales-settings")
def put_settings(body: SettingIn, session: SessionDep, who: OrdersAudit) -> SettingOut:
    requests.configure(
        session,
        who.account_id,
        body.damaged_warehouse,
        body.exchange_at,
        who.actor,
        datetime.now(UTC),
    )
    return SettingOut(damaged_warehouse=body.damaged_warehouse, exchange_at=body.exchange_at)


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The damaged-goods warehouse (售后坏品仓, kind damaged) of the account that damaged
    #: returns received at this warehouse go to; null takes the route away.
    damaged_warehouse: Code | None


class RouteOut(BaseModel):
    warehouse: str
    #: Where its damaged returns are booked now, and why: its own route (``warehouse``),
    #: the account's setting (``account``), or its own damaged bucket (``bucket``).
    damaged_warehouse: str
    via: routes.Via


@router.get("/warehouses/{code}/damaged-warehouse")
def get_route(code: str, session: SessionDep, who: OrdersRead) -> RouteOut:
    """Where the damaged returns received at warehouse ``code`` are booked."""
    wh = get_warehouse(session, who.account_id, code)
    to = routes.destination(session, who.account_id, wh.id)
    return RouteOut(warehouse=wh.code, damaged_warehouse=to.code, via=to.via)


@router.put("/warehouses/{code}/damaged-warehouse")
def put_route(code: str, body: RouteIn, session: SessionDep, who: OrdersAudit) -> RouteOut:
    """Book the damaged returns received at warehouse ``code`` into a damaged-goods
    warehouse of the account (null: back to the account's setting or its own bucket).
    422: a warehouse the account does not have, the warehouse itself, or one that is not
    of kind damaged."""
    to = routes.set_route(
        session, who.account_id, code, body.damaged_warehouse, who.actor, datetime.now(UTC)
    )
    return RouteOut(warehouse=code, damaged_warehouse=to.code, via=to.via)


@router.get("/aftersales-refunds")
def list_refunds(
    session: SessionDep,
    who: FinanceRead,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[RefundOut]:
    """Refund instructions (退款) for finance: per request line, the units and the amount."""
    q = (
        select(AftersalesRefund, AftersalesRequest.number)
        .join(AftersalesRequest, AftersalesRequest.id == AftersalesRefund.request_id)
        .where(AftersalesRefund.account_id == who.account_id)
    )
    if status_:
        q = q.where(AftersalesRefund.status == status_)
    q = q.order_by(AftersalesRefund.id).limit(limit).offset(offset)
    return [_refund(r, number) for r, number in session.execute(q).all()]


@router.get("/aftersales/{number}")
def get_request(number: str, session: SessionDep, who: OrdersRead) -> RequestOut:
    """Customer service's view: the request, its lines and QC, its history, its refunds."""
    return _out(session, requests.get(session, who.account_id, number))


@router.post("/aftersales/{number}/approve")
def approve(number: str, body: NoteIn, session: SessionDep, who: OrdersAudit) -> RequestOut:
    req = workflow.approve(session, who.account_id, number, who.actor, datetime.now(UTC), body.note)
    return _out(session, req)


@router.post("/aftersales/{number}/reject")
def reject(number: str, body: ReasonIn, session: SessionDep, who: OrdersAudit) -> RequestOut:
    req = workflow.reject(
        session, who.account_id, number, body.reason, who.actor, datetime.now(UTC)
    )
    return _out(session, req)


@router.post(
    "/aftersales/{number}/receive",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "this receipt id was booked before; nothing was done"}},
)
def receive(
    number: str, body: ReceiveIn, session: SessionDep, who: StockWrite, response: Response
) -> RequestOut:
    """The parcel arrived and was QC'd: per line sellable, damaged (with a reason) and
    missing units, adding up to the line's quantity. Booked once per ``receipt_id``."""
    req, new = workflow.receive(
        session,
        who.account_id,
        number,
        body.receipt_id,
        body.warehouse,
        [
            workflow.ReturnLine(
                ln.line_no, ln.sku_code, ln.sellable, ln.damaged, ln.missing, ln.reason
            )
            for ln in body.lines
        ],
        who.actor,
        datetime.now(UTC),
        return_waybill=body.return_waybill,
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    out = _out(session, req)
    out.new = new
    return out


@router.post("/aftersales/{number}/close")
def close(number: str, body: NoteIn, session: SessionDep, who: OrdersWrite) -> RequestOut:
    req = workflow.close(session, who.account_id, number, who.actor, datetime.now(UTC), body.note)
    return _out(session, req)
