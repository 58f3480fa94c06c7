"""Finance pages beside the books (docs/dashboard.md, docs/finance.md): statements (对账单)
per supplier and per buyer as a printable page and as CSV/XLSX, supplier payments, an
order's money (订单财务) with payments and refunds confirmed by hand, and the period close. Reading needs ``finance:read``; recording a payment and closing a month
``finance:write`` (the API's routes: cloud/api/payables.py, statements.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.api.statements import span
from cloud.db.models import Supplier
from cloud.errors import N_, InvalidError
from cloud.finance import closing, order_money, payables, statements
from cloud.finance.poster import day_of
from cloud.finance.statements import Statement
from cloud.web import i18n
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.export import XLSX, guard, to_csv, to_xlsx
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance")

Kind = Annotated[Literal["supplier", "buyer"], Query()]
Text = Annotated[str | None, Query(max_length=120)]
Day = Annotated[date | None, Query()]


def _suppliers(session: Session, account_id: int) -> list[tuple[str, str]]:
    return [
        (c, n)
        for c, n in session.execute(
            select(Supplier.code, Supplier.name)
            .where(Supplier.account_id == account_id)
            .order_by(Supplier.code)
        )
    ]


def _statement(
    session: Session,
    account_id: int,
    kind: str,
    party: str,
    start: date,
    end: date,
    shop: str | None,
) -> Statement:
    if kind == "supplier":
        return statements.supplier_statement(session, account_id, party, start, end)
    return statements.buyer_statement(session, account_id, party, start, end, shop or None)


@router.get("/statements", response_class=HTMLResponse, include_in_schema=False)
def statement_page(
    request: Request,
    user: FinancePage,
    session: SessionDep,
    kind: Kind = "supplier",
    party: Text = None,
    shop: Text = None,
    start: Day = None,
    end: Day = None,
) -> Response:
    first, last = span(start, end)
    st = _statement(session, user.who.account_id, kind, party, first, last, shop) if party else None
    return render(
        request,
        "finance_statement.html",
        {
            "kind": kind,
            "party": party or "",
            "shop": shop or "",
            "start": first,
            "end": last,
            "st": st,
            "suppliers": _suppliers(session, user.who.account_id),
        },
        user=user,
    )


@router.get("/statements/export.{fmt}", include_in_schema=False)
def statement_export(
    fmt: Literal["csv", "xlsx"],
    user: FinancePage,
    session: SessionDep,
    kind: Kind,
    party: Annotated[str, Query(min_length=1, max_length=120)],
    shop: Text = None,
    start: Day = None,
    end: Day = None,
) -> Response:
    """The statement as a file: the opening line, each document, the closing line."""
    first, last = span(start, end)
    st = _statement(session, user.who.account_id, kind, party, first, last, shop)
    rows = [[guard(v) for v in row] for row in statements.table(st)]
    data = (
        to_csv(statements.HEADER, rows)
        if fmt == "csv"
        else to_xlsx("statement", statements.HEADER, rows)
    )
    return Response(
        data,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="statement-{kind}-{first}-{last}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/payments", response_class=HTMLResponse, include_in_schema=False)
def payments_page(
    request: Request, user: FinancePage, session: SessionDep, supplier: Text = None
) -> Response:
    docs = payables.documents(session, user.who.account_id, supplier or None)
    return render(
        request,
        "finance_payments.html",
        {
            "docs": docs,
            "supplier": supplier or "",
            "suppliers": _suppliers(session, user.who.account_id),
            "today": day_of(datetime.now(UTC)),
        },
        user=user,
    )


@router.post("/payments", include_in_schema=False)
async def record_payment(request: Request, user: FinanceAction, session: SessionDep) -> Response:
    form = await request.form()
    field = {k: str(form.get(k, "")).strip() for k in ("doc_no", "supplier", "kind", "amount")}
    paid_from = str(form.get("paid_from", "")).strip() or None
    raw_day = str(form.get("doc_date", "")).strip()
    try:
        on = date.fromisoformat(raw_day) if raw_day else day_of(datetime.now(UTC))
    except ValueError:
        raise InvalidError(N_("%(value)r is not a date"), "doc_date", value=raw_day) from None
    doc = payables.SupplierDocIn(
        doc_no=field["doc_no"],
        supplier=field["supplier"],
        kind=field["kind"],
        amount=field["amount"],
        on=on,
        paid_from=None if field["kind"] in payables.NO_MONEY else paid_from,
        memo=str(form.get("memo", "")).strip(),
        tax_rate=str(form.get("tax_rate", "")).strip() if field["kind"] == "invoice" else None,
    )

    def run() -> None:
        payables.record(session, user.who.account_id, doc, user.who.actor, datetime.now(UTC))

    await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/finance/payments?done=1", status_code=303)


@router.get("/periods", response_class=HTMLResponse, include_in_schema=False)
def periods_page(request: Request, user: FinancePage, session: SessionDep) -> Response:
    now = datetime.now(UTC)
    gettext = i18n.translations(locale_of(request)).gettext
    months = []
    for m in closing.months(session, user.who.account_id, now):
        found = [] if m.closed else closing.blockers(session, user.who.account_id, m.period, now)
        months.append((m, [b.error().translated(gettext) for b in found]))
    return render(request, "finance_periods.html", {"months": months}, user=user)


@router.post("/periods", include_in_schema=False)
async def close_period(request: Request, user: FinanceAction, session: SessionDep) -> Response:
    form = await request.form()
    period = str(form.get("period", "")).strip()
    if form.get("confirm") != "yes":
        raise InvalidError(N_("tick the box: a closed month cannot be reopened"), "confirm")

    def run() -> None:
        closing.close(session, user.who.account_id, period, user.who.actor, datetime.now(UTC))

    await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/finance/periods?done=1", status_code=303)


@router.get("/orders", response_class=HTMLResponse, include_in_schema=False)
def order_money_page(
    request: Request,
    user: FinancePage,
    session: SessionDep,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """订单财务: one order's money state and its entries, with the confirm actions."""
    m = order_money.money_of(session, user.who.account_id, order_no) if order_no else None
    return render(request, "finance_order.html", {"m": m, "order_no": order_no or ""}, user=user)


@router.post("/orders", include_in_schema=False)
async def confirm_order_money(
    request: Request, user: FinanceAction, session: SessionDep
) -> Response:
    form = await request.form()
    order_no = str(form.get("order_no", "")).strip()
    kind = str(form.get("kind", "")).strip()
    reason = str(form.get("reason", ""))
    amount = str(form.get("amount", "")).strip() or None

    def run() -> None:
        now = datetime.now(UTC)
        order_money.confirm(
            session,
            user.who.account_id,
            order_no,
            kind,
            reason,
            user.who.actor,
            day_of(now),
            now,
            amount,
        )

    await asyncio.to_thread(run)
    return RedirectResponse(
        f"{PREFIX}/finance/orders?order_no={quote(order_no)}&done=1", status_code=303
    )


@router.post("/orders/prepayment-refunds", include_in_schema=False)
async def refund_prepayment(request: Request, user: FinanceAction, session: SessionDep) -> Response:
    """退预收款 from the order's money page: the API's prepayment refund (once per refund
    number; never more than paid; not once shipped), the refusal shown in the page's
    language."""
    form = await request.form()
    field = {k: str(form.get(k, "")).strip() for k in ("order_no", "refund_no", "amount")}

    def run() -> None:
        now = datetime.now(UTC)
        order_money.refund_prepayment(
            session,
            user.who.account_id,
            field["order_no"],
            field["refund_no"],
            field["amount"],
            str(form.get("reason", "")),
            day_of(now),
            now,
            str(form.get("paid_from", "")).strip() or None,
        )

    await asyncio.to_thread(run)
    return RedirectResponse(
        f"{PREFIX}/finance/orders?order_no={quote(field['order_no'])}&done=refund",
        status_code=303,
    )
