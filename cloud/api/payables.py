"""/finance/supplier-docs, /finance/orders/{order_no}: supplier payables and order money
(docs/finance.md "Supplier payables", "Order money"). Reading needs ``finance:read``,
writing ``finance:write`` (admin and finance roles).

Amounts arrive as strings ("1234.50") and leave as strings with two decimals: a JSON number
is a binary double to most clients. A number sent anyway is refused with a sentence (422),
as are commas, more than two decimals and negative amounts; nothing is stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep
from cloud.db.payables import FinOrderConfirmation, FinSupplierDoc
from cloud.finance import order_money, payables
from cloud.finance.poster import day_of

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

#: What a client may send as an amount: a string is parsed, anything else is refused by
#: ``cloud.finance.money.money`` with a sentence (a float: "not a float").
AmountIn = str | int | float


class SupplierDocIn(BaseModel):
    doc_no: str = Field(
        min_length=1, max_length=60, description="your document number; a retry sends the same"
    )
    supplier: str = Field(min_length=1, max_length=64, description="the supplier's code")
    kind: Literal["payment", "prepayment", "refund", "apply", "invoice"]
    amount: AmountIn = Field(
        description='a decimal string like "1234.50" (an invoice: the amount without tax)'
    )
    tax_rate: AmountIn | None = Field(
        default=None, description='an invoice\'s VAT rate: "0.13", "0.09", "0.06", "0.03", "0.01"'
    )
    paid_from: str | None = Field(
        default=None, max_length=16, description="1002 bank, 1012.01 Alipay, 1012.02 WeChat Pay"
    )
    doc_date: date | None = Field(
        default=None, description="the document's day (today in China time)"
    )
    memo: str = Field(default="", max_length=200)


class SupplierDocOut(BaseModel):
    doc_no: str
    supplier: str
    kind: str
    amount: str
    paid_from: str | None
    tax_rate: str | None
    tax: str | None
    doc_date: date
    memo: str
    entry_id: int
    created_by: str
    created_at: datetime


class SupplierBalanceOut(BaseModel):
    supplier: str
    payable: str
    prepaid: str


def _doc(d: FinSupplierDoc) -> SupplierDocOut:
    return SupplierDocOut(
        doc_no=d.doc_no,
        supplier=d.supplier,
        kind=d.kind,
        amount=str(d.amount),
        paid_from=d.paid_from,
        tax_rate=None if d.tax_rate is None else str(d.tax_rate.normalize()),
        tax=None if d.tax is None else str(d.tax),
        doc_date=d.doc_date,
        memo=d.memo,
        entry_id=d.entry_id,
        created_by=d.created_by,
        created_at=d.created_at,
    )


@router.post("/supplier-docs", status_code=status.HTTP_201_CREATED)
def record_supplier_doc(
    body: SupplierDocIn, session: SessionDep, who: FinanceWrite, response: Response
) -> SupplierDocOut:
    """Record a payment, prepayment, refund or prepayment applied, and post it: 201; the
    same document again: 200 and nothing more posted; the number with other content: 409."""
    now = datetime.now(UTC)
    doc = payables.SupplierDocIn(
        doc_no=body.doc_no,
        supplier=body.supplier,
        kind=body.kind,
        amount=body.amount,
        on=body.doc_date or day_of(now),
        paid_from=body.paid_from,
        memo=body.memo,
        tax_rate=body.tax_rate,
    )
    out = payables.record(session, who.account_id, doc, who.actor, now)
    if not out.created:
        response.status_code = status.HTTP_200_OK
    return _doc(out.doc)


@router.get("/supplier-docs")
def list_supplier_docs(
    session: SessionDep,
    who: FinanceRead,
    supplier: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SupplierDocOut]:
    return [_doc(d) for d in payables.documents(session, who.account_id, supplier, limit)]


@router.get("/suppliers/{supplier}/balance")
def supplier_balance(supplier: str, session: SessionDep, who: FinanceRead) -> SupplierBalanceOut:
    """What is owed to the supplier and what is prepaid to it (404 for no such supplier)."""
    payables.known_supplier(session, who.account_id, supplier)
    return SupplierBalanceOut(
        supplier=supplier,
        payable=str(payables.payable_balance(session, who.account_id, supplier)),
        prepaid=str(payables.prepaid_balance(session, who.account_id, supplier)),
    )


class EntryOut(BaseModel):
    entry_id: int
    entry_date: date
    source_doc: str
    event_kind: str
    memo: str


class ConfirmationOut(BaseModel):
    kind: str
    amount: str
    reason: str
    entry_id: int
    created_by: str
    created_at: datetime


class OrderMoneyOut(BaseModel):
    order_no: str
    shop: str
    status: str
    total: str
    paid: str
    refunded: str
    #: unpaid, paid, partly_refunded, refunded
    state: str
    shipped: bool
    #: What a platform settlement paid out for the order; None: no settlement seen.
    settled: str | None
    entries: list[EntryOut]
    confirmations: list[ConfirmationOut]


class ConfirmIn(BaseModel):
    kind: Literal["paid", "refunded"]
    reason: str = Field(min_length=1, max_length=300)
    amount: AmountIn | None = Field(
        default=None, description="the order's total (paid) or what is left to refund"
    )


def _confirmation(c: FinOrderConfirmation) -> ConfirmationOut:
    return ConfirmationOut(
        kind=c.kind,
        amount=str(c.amount),
        reason=c.reason,
        entry_id=c.entry_id,
        created_by=c.created_by,
        created_at=c.created_at,
    )


def order_money_out(m: order_money.OrderMoney) -> OrderMoneyOut:
    return OrderMoneyOut(
        order_no=m.order_no,
        shop=m.shop,
        status=m.status,
        total=str(m.total),
        paid=str(m.paid),
        refunded=str(m.refunded),
        state=m.state,
        shipped=m.shipped,
        settled=None if m.settled is None else str(m.settled),
        entries=[
            EntryOut(
                entry_id=e.entry_id,
                entry_date=e.entry_date,
                source_doc=e.source_doc,
                event_kind=e.event_kind,
                memo=e.memo,
            )
            for e in m.entries
        ],
        confirmations=[_confirmation(c) for c in m.confirmations],
    )


@router.get("/orders/{order_no}")
def get_order_money(order_no: str, session: SessionDep, who: FinanceRead) -> OrderMoneyOut:
    """The order's money: paid, refunded, settled, and the entries that touched it."""
    return order_money_out(order_money.money_of(session, who.account_id, order_no))


@router.post("/orders/{order_no}/confirm", status_code=status.HTTP_201_CREATED)
def confirm_order_money(
    order_no: str, body: ConfirmIn, session: SessionDep, who: FinanceWrite
) -> OrderMoneyOut:
    """Confirm by hand a payment received or a refund made (once; 409 when in the books)."""
    now = datetime.now(UTC)
    order_money.confirm(
        session,
        who.account_id,
        order_no,
        body.kind,
        body.reason,
        who.actor,
        day_of(now),
        now,
        body.amount,
    )
    return order_money_out(order_money.money_of(session, who.account_id, order_no))


class PrepaymentRefundIn(BaseModel):
    refund_no: str = Field(
        min_length=1, max_length=40, description="the refund's number; a retry sends the same"
    )
    amount: AmountIn = Field(description='a decimal string like "12.50"')
    reason: str = Field(min_length=1, max_length=300)
    paid_from: Literal["1002", "1012.01", "1012.02"] | None = Field(
        default=None,
        description="the account the money goes back from; none: the shop's clearing "
        "account (the platform refunds from escrow)",
    )


@router.post("/orders/{order_no}/prepayment-refunds", status_code=status.HTTP_201_CREATED)
def refund_prepayment(
    order_no: str, body: PrepaymentRefundIn, session: SessionDep, who: FinanceWrite
) -> OrderMoneyOut:
    """Refund a part of the buyer's prepayment before the order ships (once per refund
    number; never more than is paid and not refunded; 409 once it has shipped)."""
    now = datetime.now(UTC)
    order_money.refund_prepayment(
        session,
        who.account_id,
        order_no,
        body.refund_no,
        body.amount,
        body.reason,
        day_of(now),
        now,
        body.paid_from,
    )
    return order_money_out(order_money.money_of(session, who.account_id, order_no))
