"""Finance → e-invoices: the seller's invoices, blue and red, with their state (scope
``finance:read``); the same domain functions as /api/v1/einvoices (cloud/api/einvoices.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.db.einvoice import STATES
from cloud.finance.einvoice import invoices
from cloud.web.deps import FinancePage
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
        },
        user=user,
    )
