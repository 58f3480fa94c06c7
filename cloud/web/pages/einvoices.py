"""Finance → e-invoices: the seller's invoices, blue and red, with their state (scope
``finance:read``); issuing a blue invoice for an order and red-flushing (红冲) what remains
of an issued one (``finance:write``, forms with the CSRF token). The same domain functions
as /api/v1/einvoices (cloud/api/einvoices.py); the worker sends them to the provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from cloud.api.deps import SessionDep
from cloud.db.einvoice import STATES, EInvoiceSeller
from cloud.finance.einvoice import invoices
from cloud.finance.einvoice.lines import RATES
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance/invoices")

State = Annotated[str | None, Query(max_length=16)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def invoice_list(
    request: Request, user: FinancePage, session: SessionDep, state: State = None
) -> Response:
    wanted = state if state in STATES else None
    rows = [
        inv
        for inv in invoices.listing(session, user.who.account_id)
        if wanted is None or inv.state == wanted
    ]
    numbers = {inv.id: inv.request_no for inv in rows}
    # What an issued blue has left to red-flush (none: the button is not shown).
    left = {
        inv.request_no: invoices.remaining_total(session, user.who.account_id, inv.request_no)
        for inv in rows
        if inv.kind == "blue" and inv.state == "issued"
    }
    conn = session.get(EInvoiceSeller, user.who.account_id)
    return render(
        request,
        "einvoices.html",
        {
            "rows": rows,
            "states": STATES,
            "state": wanted,
            "numbers": numbers,
            "reasons": invoices.REASONS,
            "in_flight": invoices.in_flight(session, user.who.account_id),
            "left": left,
            "rates": sorted(RATES),
            "connected": conn is not None,
            "tax_code": (conn.auto_tax_code if conn else None) or "",
            "rate": (conn.auto_rate if conn else None) or "0.13",
        },
        user=user,
    )


def _field(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


@router.post("/issue", include_in_schema=False)
async def issue(request: Request, user: FinanceAction, session: SessionDep) -> Response:
    """A blue invoice for an order's paid lines, queued for the provider."""
    form = await request.form()
    order_no = _field(form, "order_no")
    buyer = invoices.Buyer(_field(form, "buyer_name"), _field(form, "buyer_tax_id") or None)

    def run() -> str:
        inv = invoices.request_for_order(
            session,
            user.who.account_id,
            order_no,
            buyer,
            _field(form, "tax_code"),
            _field(form, "rate"),
            datetime.now(UTC),
            user.who.actor,
        )
        return inv.request_no

    no = await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/finance/invoices?done=issue&no={quote(no)}", status_code=303)


@router.post("/{request_no}/red", include_in_schema=False)
async def red(
    request: Request, request_no: str, user: FinanceAction, session: SessionDep
) -> Response:
    """Red-flush (红冲) all that remains of an issued blue invoice, for the reason given."""
    form = await request.form()

    def run() -> str:
        inv = invoices.request_red(
            session,
            user.who.account_id,
            request_no,
            _field(form, "reason"),
            datetime.now(UTC),
            user.who.actor,
        )
        return inv.request_no

    no = await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/finance/invoices?done=red&no={quote(no)}", status_code=303)
