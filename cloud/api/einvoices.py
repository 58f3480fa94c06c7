"""/einvoices: e-invoices (数电票) — request (from an order or by hand), list, get, red, title
change (docs/finance.md "E-invoices"). Read with ``finance:read``, write with
``finance:write`` (the finance role and admins).

A request is stored and answered at once (201, state ``queued``); the hub's e-invoice worker
sends it to the provider and polls it (cloud/finance/einvoice/worker.py): GET it again to
see it ``issued`` with its number. Money travels as strings with two decimals; a JSON number
is refused (422), as a float would lose cents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep
from cloud.db.einvoice import STATES, EInvoice
from cloud.errors import N_, InvalidError
from cloud.finance.einvoice import invoices
from cloud.finance.einvoice.lines import LineIn

router = APIRouter(prefix="/api/v1/einvoices", tags=["finance"])


class LineBody(BaseModel):
    name: str = Field(max_length=100)
    tax_code: str = Field(max_length=19, description="19-digit tax classification code")
    rate: str = Field(max_length=6, description="0, 0.01, 0.03, 0.05, 0.06, 0.09 or 0.13")
    quantity: int = 1
    price: str = Field(max_length=24, description="the line's total, like 113.00")
    includes_tax: bool = True


class BuyerBody(BaseModel):
    buyer_name: str = Field(max_length=100, description="the title; 个人 for a person")
    buyer_tax_id: str | None = Field(default=None, max_length=24)
    buyer_email: str | None = Field(default=None, max_length=120)


class RequestBody(BuyerBody):
    order_no: str | None = Field(default=None, max_length=64)
    lines: list[LineBody] | None = Field(default=None, max_length=200)
    #: From an order (no lines): every line under this code and rate.
    tax_code: str | None = Field(default=None, max_length=19)
    rate: str | None = Field(default=None, max_length=6)


class RedLineBody(BaseModel):
    line: int
    amount: str | None = Field(default=None, max_length=24, description="tax-inclusive")


class RedBody(BaseModel):
    reason: str = Field(
        max_length=2, description="01 开票有误, 02 销货退回, 03 服务中止, 04 销售折让"
    )
    lines: list[RedLineBody] | None = Field(default=None, max_length=200)


class LineOut(BaseModel):
    line_no: int
    name: str
    tax_code: str
    rate: str
    quantity: int
    amount: str
    tax: str
    blue_line: int | None


class InvoiceOut(BaseModel):
    request_no: str
    kind: str
    state: str
    order_no: str | None
    blue: str | None
    after: str | None
    buyer_name: str
    buyer_tax_id: str | None
    red_reason: str | None
    amount: str
    tax: str
    total: str
    number: str | None
    pdf_url: str | None
    ofd_url: str | None
    form_state: str | None
    reason: str | None
    created_at: datetime
    issued_at: datetime | None
    lines: list[LineOut] | None = None


class TitleChangeOut(BaseModel):
    red: InvoiceOut
    blue: InvoiceOut


def out(s: Session, inv: EInvoice, with_lines: bool = False) -> InvoiceOut:
    def no_of(pk: int | None) -> str | None:
        return None if pk is None else s.get_one(EInvoice, pk).request_no

    return InvoiceOut(
        request_no=inv.request_no,
        kind=inv.kind,
        state=inv.state,
        order_no=inv.order_no,
        blue=no_of(inv.blue_id),
        after=no_of(inv.after_id),
        buyer_name=inv.buyer_name,
        buyer_tax_id=inv.buyer_tax_id,
        red_reason=inv.red_reason,
        amount=str(inv.amount),
        tax=str(inv.tax),
        total=str(inv.total),
        number=inv.number,
        pdf_url=inv.pdf_url,
        ofd_url=inv.ofd_url,
        form_state=inv.form_state,
        reason=inv.reason,
        created_at=inv.created_at,
        issued_at=inv.issued_at,
        lines=[
            LineOut(
                line_no=x.line_no,
                name=x.name,
                tax_code=x.tax_code,
                rate=str(x.rate.normalize()),
                quantity=x.quantity,
                amount=str(x.amount),
                tax=str(x.tax),
                blue_line=x.blue_line,
            )
            for x in invoices.lines_of(s, inv)
        ]
        if with_lines
        else None,
    )


def _buyer(b: BuyerBody) -> invoices.Buyer:
    return invoices.Buyer(b.buyer_name, b.buyer_tax_id, b.buyer_email)


@router.post("", status_code=status.HTTP_201_CREATED)
def request_invoice(body: RequestBody, session: SessionDep, who: FinanceWrite) -> InvoiceOut:
    """A blue invoice: with ``lines`` by hand (an ``order_no`` then only links it), or for
    the order ``order_no`` with one ``tax_code`` and ``rate`` for its lines. 422 for a bad
    tax id or line (nothing stored); 409 when the order has an invoice already."""
    now = datetime.now(UTC)
    if body.lines:
        raw = [
            LineIn(x.name, x.tax_code, x.rate, x.quantity, x.price, x.includes_tax)
            for x in body.lines
        ]
        inv = invoices.request_blue(
            session, who.account_id, _buyer(body), raw, now, who.username, order_no=body.order_no
        )
    elif body.order_no and body.tax_code and body.rate:
        inv = invoices.request_for_order(
            session,
            who.account_id,
            body.order_no,
            _buyer(body),
            body.tax_code,
            body.rate,
            now,
            who.username,
        )
    else:
        raise InvalidError(
            N_("give the lines, or an order_no with the tax_code and rate of its lines"), "lines"
        )
    return out(session, inv, with_lines=True)


@router.get("")
def list_invoices(
    session: SessionDep,
    who: FinanceRead,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> list[InvoiceOut]:
    """The newest 200 invoices, blue and red, optionally in one state."""
    if state is not None and state not in STATES:
        raise InvalidError(
            N_("state %(state)s is none of %(states)s"),
            "state",
            state=state,
            states=", ".join(STATES),
        )
    return [
        out(session, inv)
        for inv in invoices.listing(session, who.account_id)
        if state is None or inv.state == state
    ]


@router.get("/{request_no}")
def get_invoice(request_no: str, session: SessionDep, who: FinanceRead) -> InvoiceOut:
    return out(session, invoices.get(session, who.account_id, request_no), with_lines=True)


@router.post("/{request_no}/red", status_code=status.HTTP_201_CREATED)
def red_invoice(
    request_no: str, body: RedBody, session: SessionDep, who: FinanceWrite
) -> InvoiceOut:
    """A red for an issued blue: all that remains of it, or the lines named (partial red;
    409 beyond what remains). Cancelling an invoice is a full red."""
    red_lines = [invoices.RedLine(x.line, x.amount) for x in body.lines] if body.lines else None
    inv = invoices.request_red(
        session,
        who.account_id,
        request_no,
        body.reason,
        datetime.now(UTC),
        who.username,
        red_lines,
    )
    return out(session, inv, with_lines=True)


@router.post("/{request_no}/title", status_code=status.HTTP_201_CREATED)
def change_title(
    request_no: str, body: BuyerBody, session: SessionDep, who: FinanceWrite
) -> TitleChangeOut:
    """换抬头: the blue reversed in full, then a new blue for the new buyer, sent once the
    red is issued."""
    red, blue = invoices.change_title(
        session, who.account_id, request_no, _buyer(body), datetime.now(UTC), who.username
    )
    return TitleChangeOut(red=out(session, red), blue=out(session, blue))
