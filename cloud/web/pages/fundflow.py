"""Finance: WeChat Pay fund-flow bills (资金账单, cloud/finance/wechat_fundflow.py) — the bills
reconciled, one bill's movements (each matched one with the trade-bill row it is, each
unmatched one with why, and the ``fundflow`` task that lists them), and the upload form.
The same domain functions as /api/v1/finance/fundflow-bills (cloud/api/fundflow.py).
Reading needs ``finance:read``; importing ``finance:write`` and this session's CSRF token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from cloud.api.deps import SessionDep
from cloud.api.fundflow import movement_out
from cloud.api.uploads import import_file
from cloud.errors import N_, InvalidError
from cloud.finance import settlements, wechat_admin, wechat_fundflow
from cloud.finance.bill_checks import MAX_BYTES
from cloud.tasks import detail_in
from cloud.web import refusals
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance/fundflow-bills")
BillId = Annotated[str, Path(max_length=36)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def bills(request: Request, user: FinancePage, session: SessionDep) -> Response:
    found = wechat_admin.fundflow_bills(session, user.who.account_id)
    ctx = {"bills": found, "max_mb": MAX_BYTES // (1024 * 1024)}
    return render(request, "fundflow_bills.html", ctx, user=user)


@router.post("", include_in_schema=False)
async def upload(request: Request, user: FinanceAction) -> Response:
    """The uploaded bill reconciled (the API's POST /finance/fundflow-bills), then its page;
    a refusal (409, 422 with the line) is a page saying why, nothing stored."""
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidError(N_("Choose a fund-flow bill file (text or gzip) to import."), "file")
    data = await file.read(MAX_BYTES + 1)
    got = await import_file(request, user.who, wechat_fundflow.reconcile, data, file.filename)
    return RedirectResponse(f"{PREFIX}/finance/fundflow-bills/{got.public_id}", status_code=303)


@router.get("/{bill_id}", response_class=HTMLResponse, include_in_schema=False)
def bill(request: Request, bill_id: BillId, user: FinancePage, session: SessionDep) -> Response:
    gettext = refusals.gettext_of(request)
    view = wechat_admin.fundflow_bill(session, user.who.account_id, bill_id)
    rows: list[dict[str, Any]] = []
    for r in view.rows:
        out = movement_out(r, view.matched).model_dump()
        out["reason"] = settlements.reason_text(r.reason, gettext)
        rows.append(out)
    ctx = {
        "bill": view.bill,
        "rows": rows,
        "task": view.task,
        "task_detail": detail_in(view.task, gettext) if view.task else "",
    }
    return render(request, "fundflow_bill.html", ctx, user=user)
