"""After-sales (售后): the list of requests and one request with its lines, QC, refunds and
state history — customer service's view, as the API's GET /aftersales (cloud/api/
aftersales.py), read through the same domain functions (cloud/aftersales/requests.py).
The audit and the receipt are the API's (and the returns station's); not buttons here yet."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.aftersales import requests
from cloud.api.deps import SessionDep
from cloud.db.models import Warehouse
from cloud.web.deps import OrdersPage
from cloud.web.render import render
from cloud.web.session import PREFIX

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
    rows = requests.list_requests(
        session,
        user.who.account_id,
        status=status or None,
        order_no=order_no.strip() or None,
        limit=101,
        offset=page * 100,
    )
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
        },
        user=user,
    )


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
            "lines": requests.lines_of(session, req),
            "history": requests.history(session, req),
            "refunds": requests.refunds_of(session, req),
        },
        user=user,
    )
