"""After-sales (售后): the list of requests and one request with its lines, QC, refunds and
state history — customer service's view, as the API's GET /aftersales (cloud/api/
aftersales.py), read through the same domain functions (cloud/aftersales/requests.py).
Customer service approves, rejects (with a reason) and closes here, with the scopes of the
API (orders:audit, orders:write); the receipt is the returns station's (or the API's)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cloud.aftersales import requests, routes, workflow
from cloud.api.deps import SessionDep
from cloud.db.models import Warehouse
from cloud.errors import N_
from cloud.stock.warehouses import list_warehouses
from cloud.web.deps import OrdersAction, OrdersPage
from cloud.web.pages.forms import acted
from cloud.web.render import render
from cloud.web.session import PREFIX, PageError, WebUser, require

router = APIRouter(prefix=PREFIX + "/aftersales")

Status = Literal["", "requested", "approved", "rejected", "received", "closed"]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def request_list(
    request: Request,
    user: OrdersPage,
    session: SessionDep,
    status: Status = "",
    order_no: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    return _list(request, user, session, status, order_no, page)


def _list(
    request: Request,
    user: WebUser,
    session: Session,
    status: str = "",
    order_no: str = "",
    page: int = 0,
    *,
    route_errors: list[str] | None = None,
    code: int = 200,
) -> Response:
    account = user.who.account_id
    rows = requests.list_requests(
        session,
        account,
        status=status or None,
        order_no=order_no.strip() or None,
        limit=101,
        offset=page * 100,
    )
    warehouses = list_warehouses(session, account)
    return render(
        request,
        "aftersales.html",
        {
            "rows": rows[:100],
            "more": len(rows) > 100,
            "status": status,
            "order_no": order_no,
            "page": page,
            "statuses": requests.STATUSES,
            "damaged_routes": routes.routes(session, account),
            "account_damaged": _account_damaged(session, account),
            "warehouses": [w.code for w in warehouses],
            "damaged_warehouses": [w.code for w in warehouses if w.kind == "damaged"],
            "route_errors": route_errors or [],
        },
        user=user,
        status=code,
    )


@router.post("/damaged-routes", include_in_schema=False)
async def damaged_route(request: Request, user: OrdersAction, session: SessionDep) -> Response:
    """Where one warehouse's damaged returns go (售后坏品仓), as ``PUT /api/v1/warehouses/
    {code}/damaged-warehouse`` does (scope orders:audit); a refusal shows the list again
    with the reason, nothing changed."""
    require(user, "orders:audit")
    form = await request.form()
    warehouse = str(form.get("warehouse", "")).strip()[:64]
    to = str(form.get("damaged_warehouse", "")).strip()[:64] or None

    def run() -> None:
        now, who = datetime.now(UTC), user.who
        routes.set_route(session, who.account_id, warehouse, to, who.actor, now)

    return await acted(
        request,
        session,
        run,
        f"{PREFIX}/aftersales?done=route#damaged-title",
        lambda errors, code: _list(request, user, session, route_errors=errors, code=code),
    )


def _account_damaged(session: Session, account_id: int) -> str | None:
    conf = requests.setting(session, account_id)
    if conf is None or not conf.damaged_warehouse_id:
        return None
    return session.get_one(Warehouse, conf.damaged_warehouse_id).code


@router.get("/{number}", response_class=HTMLResponse, include_in_schema=False)
def request_detail(
    request: Request, number: str, user: OrdersPage, session: SessionDep
) -> Response:
    req = requests.get(session, user.who.account_id, number)
    return render(
        request,
        "aftersales_request.html",
        {
            "req": req,
            "warehouse": session.get_one(Warehouse, req.warehouse_id).code,
            # Where its damaged units went (received), or go (售后坏品仓, routes.py).
            "damaged_booked": routes.booked_into(session, user.who.account_id, req.movement_ids),
            "damaged_to": routes.destination(session, user.who.account_id, req.warehouse_id),
            "lines": requests.lines_of(session, req),
            "history": requests.history(session, req),
            "refunds": requests.refunds_of(session, req),
        },
        user=user,
    )


#: Page actions and the API scope each needs (cloud/api/aftersales.py).
ACTIONS: Final = {"approve": "orders:audit", "reject": "orders:audit", "close": "orders:write"}


@router.post("/{number}/{name}", include_in_schema=False)
async def act(
    request: Request, number: str, name: str, user: OrdersAction, session: SessionDep
) -> Response:
    scope = ACTIONS.get(name)
    if scope is None:
        raise PageError(404, N_("no after-sales action %(name)r"), None, name=name)
    require(user, scope)
    form = await request.form()
    note = str(form.get("reason", "")).strip()[:300]

    def run() -> None:
        now, who = datetime.now(UTC), user.who
        if name == "approve":
            workflow.approve(session, who.account_id, number, who.actor, now, note or None)
        elif name == "reject":
            workflow.reject(session, who.account_id, number, note, who.actor, now)
        else:
            workflow.close(session, who.account_id, number, who.actor, now, note or None)

    await asyncio.to_thread(run)
    return RedirectResponse(
        f"{PREFIX}/aftersales/{quote(number, safe='')}?done={name}", status_code=303
    )
