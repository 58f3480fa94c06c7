"""Courier bills (快递对账): the bills imported, one bill's lines with their flags and what
was shipped but not billed, and accepting a bill into the books — the same domain
functions as /api/v1/finance/courier-bills (cloud/finance/courier_bills.py). Reading needs
``finance:read``; accepting ``finance:write`` (and this session's CSRF token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from cloud.api.deps import SessionDep, UnitsDep
from cloud.api.skus import MAX_IMPORT_BYTES, import_kind
from cloud.errors import N_, InvalidError
from cloud.finance import courier_bills
from cloud.finance.courier_bill_file import read
from cloud.orders.audit_rules import list_carriers
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance/courier-bills")
BillId = Annotated[int, Path(ge=1, le=2**31 - 1)]
LineId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def bill_list(request: Request, user: FinancePage, session: SessionDep) -> Response:
    bills = courier_bills.bills(session, user.who.account_id)
    carriers = list_carriers(session, user.who.account_id)
    ctx = {"bills": bills, "bill": None, "carriers": carriers}
    return render(request, "courier_bills.html", ctx, user=user)


@router.post("", include_in_schema=False)
async def upload(request: Request, user: FinanceAction, units: UnitsDep) -> Response:
    """A courier's bill from the form, as ``POST /api/v1/finance/couriers/{carrier}/bills``:
    imported and reconciled, then its page; a refusal is a page saying why."""
    form = await request.form()
    file, carrier = form.get("file"), str(form.get("carrier") or "")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidError(N_("Choose a CSV or Excel (.xlsx) file to import."), "file")
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidError(
            N_(
                "The file is larger than %(mb)s MB: nothing was imported. Split it into smaller files."
            ),
            "file",
            mb=MAX_IMPORT_BYTES // (1024 * 1024),
        )
    fmt = import_kind(file.content_type or "", file.filename)
    rows = await anyio.to_thread.run_sync(read, data, fmt)
    name, now = file.filename, datetime.now(UTC)

    def work(s: Any) -> int:
        return courier_bills.import_bill(
            s, user.who.account_id, carrier, name, data, fmt, user.who.actor, now, rows
        ).id

    bill_id = await units.write(work)
    return RedirectResponse(f"{PREFIX}/finance/courier-bills/{bill_id}", status_code=303)


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
        "resolved": request.query_params.get("resolved") == "1",
    }
    return render(request, "courier_bills.html", ctx, user=user)


@router.post("/{bill_id}/accept", include_in_schema=False)
def accept(bill_id: BillId, user: FinanceAction, session: SessionDep) -> Response:
    courier_bills.accept(session, user.who.account_id, bill_id, user.who.actor, datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/finance/courier-bills/{bill_id}?accepted=1", status_code=303)


@router.post("/{bill_id}/lines/{line_id}/resolve", include_in_schema=False)
async def resolve(
    bill_id: BillId, line_id: LineId, request: Request, user: FinanceAction, session: SessionDep
) -> Response:
    credited = str((await request.form()).get("credited") or "").strip()

    def run() -> None:
        courier_bills.resolve(
            session,
            user.who.account_id,
            bill_id,
            line_id,
            credited,
            user.who.actor,
            datetime.now(UTC),
        )

    await anyio.to_thread.run_sync(run)
    return RedirectResponse(f"{PREFIX}/finance/courier-bills/{bill_id}?resolved=1", status_code=303)
