"""Finance: a month's trial balance and one account's ledger lines, as the API's
/finance/trial-balance (cloud/api/finance.py) and the same domain functions
(cloud/finance/reports.py); scope ``finance:read``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from cloud.api.deps import SessionDep
from cloud.api.finance import current_period
from cloud.db.finance import FinCursor
from cloud.finance import reports
from cloud.web.deps import FinancePage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance")

Period = Annotated[str | None, Query(max_length=7)]
Code = Annotated[str | None, Query(max_length=64)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def books(
    request: Request,
    user: FinancePage,
    session: SessionDep,
    period: Period = None,
    account: Code = None,
) -> Response:
    month = period or current_period()
    tb = reports.trial_balance(session, user.who.account_id, month)
    lines = reports.ledger_lines(session, user.who.account_id, account, month) if account else None
    # Streams of the poster that stopped at a fact the books refused (cloud/finance/poster.py).
    stopped = session.execute(
        select(FinCursor)
        .where(FinCursor.account_id == user.who.account_id, FinCursor.error.is_not(None))
        .order_by(FinCursor.stream)
    ).scalars()
    return render(
        request,
        "finance.html",
        {"tb": tb, "period": month, "account": account, "lines": lines, "stopped": list(stopped)},
        user=user,
    )
