"""Finance: platform settlement bills (cloud/finance/settlements.py) — the bills imported,
one bill's rows with their match state, the rows left unmatched, and the upload form.
Reading needs ``finance:read``; importing and matching again ``finance:write`` (as the
API's /finance/settlements routes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from cloud.api.deps import SessionDep
from cloud.api.settlements import row_out
from cloud.api.uploads import import_file
from cloud.db.settlement import SettlementRow
from cloud.errors import N_
from cloud.finance import settlements
from cloud.finance.alipay_bill import MAX_BYTES
from cloud.web import i18n
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX, PageError

router = APIRouter(prefix=PREFIX + "/finance/settlements")
BillId = Annotated[str, Path(max_length=36)]


def _gettext(request: Request) -> Callable[[str], str]:
    return i18n.translations(locale_of(request)).gettext


def _rows(request: Request, rows: list[SettlementRow]) -> list[dict[str, object]]:
    gettext = _gettext(request)
    out = []
    for r in rows:
        view = row_out(r).model_dump()
        view["reason"] = settlements.reason_text(r.reason, gettext)
        out.append(view)
    return out


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def bills(request: Request, user: FinancePage, session: SessionDep) -> Response:
    account = user.who.account_id
    return render(
        request,
        "settlements.html",
        {
            "bills": settlements.bills(session, account),
            "unmatched": _rows(request, settlements.unmatched(session, account)),
            "max_mb": MAX_BYTES // (1024 * 1024),
        },
        user=user,
    )


@router.post("", include_in_schema=False)
async def upload(request: Request, user: FinanceAction) -> Response:
    """The uploaded bill imported (the API's POST /finance/settlements), then its page."""
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        text = _gettext(request)(N_("Choose a bill file (zip or CSV) to import."))
        raise PageError(422, text)
    data = await file.read(MAX_BYTES + 1)
    got = await import_file(request, user.who, settlements.import_bill, data, file.filename)
    return RedirectResponse(f"{PREFIX}/finance/settlements/{got.public_id}", status_code=303)


@router.post("/match-again", include_in_schema=False)
def match_again(request: Request, user: FinanceAction, session: SessionDep) -> Response:
    settlements.match_again(session, user.who.account_id, datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/finance/settlements", status_code=303)


@router.get("/{bill_id}", response_class=HTMLResponse, include_in_schema=False)
def bill(request: Request, bill_id: BillId, user: FinancePage, session: SessionDep) -> Response:
    head, rows = settlements.bill(session, user.who.account_id, bill_id)
    return render(
        request, "settlement.html", {"bill": head, "rows": _rows(request, rows)}, user=user
    )
