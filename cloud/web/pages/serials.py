"""A serial's trace on the dashboard (全程条码跟踪): a search box and the unit's timeline, read
through the same domain function as ``GET /api/v1/serials/{serial}`` (cloud/stock/serials.py),
with the API's scope (stock:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.errors import NotFoundError
from cloud.stock import serials
from cloud.web import i18n
from cloud.web.deps import StockPage
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/stock/serials")


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def trace_page(
    request: Request,
    user: StockPage,
    session: SessionDep,
    serial: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    wanted = serial.strip()
    steps: list[serials.Step] = []
    missing, status = "", 200
    if wanted:
        try:
            steps = serials.trace(session, user.who.account_id, wanted)
        except NotFoundError as err:
            missing, status = err.translated(i18n.translations(locale_of(request)).gettext), 404
    return render(
        request,
        "serial.html",
        {"serial": wanted, "steps": steps, "missing": missing},
        user=user,
        status=status,
    )
