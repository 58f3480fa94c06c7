"""The audit queue (审单): held orders first, then those waiting for a person, each with the
reasons and the rules that fired; the chosen order's full panel with its actions beside it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.orders import hold_said
from cloud.orders import views as order_views
from cloud.orders.views import OrderFilter
from cloud.web.deps import OrdersPage
from cloud.web.pages.orders import order_context
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX)
PAGE = 50


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def queue(
    request: Request,
    user: OrdersPage,
    session: SessionDep,
    order: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    account = user.who.account_id
    # The queue's tables show no lines (the chosen order's panel reads its own).
    held = order_views.page(
        session, account, OrderFilter(on_hold=True), limit=PAGE, offset=0, lines=False
    )
    waiting = [
        o
        for status in ("new", "saved", "confirmed", "audited")
        for o in order_views.page(
            session,
            account,
            OrderFilter(status=status, on_hold=False),
            limit=PAGE,
            offset=0,
            lines=False,
        )
    ]
    said = hold_said.holds_said(session, account, held)
    for o in held:
        o["hold_said"] = said.get(o["order_no"])
    chosen = order or (
        held[0]["order_no"] if held else (waiting[0]["order_no"] if waiting else None)
    )
    panel = order_context(session, user, chosen) if chosen else None
    return render(
        request,
        "audit.html",
        {"held": held, "waiting": waiting, "panel": panel, "chosen": chosen, "done": done},
        user=user,
    )
