"""Courier bills (快递对账): the bills imported, one bill's lines with their flags and what
was shipped but not billed, and accepting a bill into the books — the same domain
functions as /api/v1/finance/courier-bills (cloud/finance/courier_bills.py). Reading needs
``finance:read``; accepting ``finance:write`` (and this session's CSRF token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.api.deps import SessionDep
from cloud.finance import courier_bills
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance/courier-bills")
BillId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def bill_list(request: Request, user: FinancePage, session: SessionDep) -> Response:
    bills = courier_bills.bills(session, user.who.account_id)
    return render(request, "courier_bills.html", {"bills": bills, "bill": None}, user=user)


@router.get("/{bill_id}", response_class=HTMLResponse, include_in_schema=False)
def bill_page(
    bill_id: BillId, request: Request, user: FinancePage, session: SessionDep
) -> Response:
    bill = courier_bills.get_bill(session, user.who.account_id, bill_id)
    ctx = {
        "bill": bill,
        "lines": courier_bills.lines_of(session, bill),
        "unbilled": courier_bills.unbilled(session, bill),
        "accepted": request.query_params.get("accepted") == "1",
    }
    return render(request, "courier_bills.html", ctx, user=user)


@router.post("/{bill_id}/accept", include_in_schema=False)
def accept(bill_id: BillId, user: FinanceAction, session: SessionDep) -> Response:
    courier_bills.accept(session, user.who.account_id, bill_id, user.who.actor, datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/finance/courier-bills/{bill_id}?accepted=1", status_code=303)
