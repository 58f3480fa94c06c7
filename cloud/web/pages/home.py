"""Home: today per stage, % shipped today, late, open tasks, nodes offline or lagging, and
the 30-day shipped trend; each figure links to the list behind it."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.api.deps import SessionDep, SettingsDep
from cloud.orders import figures
from cloud.orders.audit_rules import CHINA
from cloud.web.deps import AnyPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX)


@router.get("", include_in_schema=False)
async def _bare() -> Response:
    return RedirectResponse(PREFIX + "/", status_code=307)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, user: AnyPage, session: SessionDep, settings: SettingsDep) -> Response:
    """Each block shows only what the role may read (the API's scopes)."""
    data = None
    now = datetime.now(UTC)
    if user.can("orders:read"):
        data = figures.home(session, user.who.account_id, now, settings.dashboard_cutoff_hour)
    # "Shipped today" links to the orders shipped on the seller's day (China time), as the
    # figure counts them, not to every shipped order.
    today = now.astimezone(CHINA).date().isoformat()
    trend = (
        {"days": [d.isoformat() for d, _ in data.trend], "shipped": [n for _, n in data.trend]}
        if data is not None
        else None
    )
    return render(request, "home.html", {"data": data, "trend": trend, "today": today}, user=user)
