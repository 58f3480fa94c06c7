"""Fleet: every edge node of the account with presence, last seen, epoch, backlog, oldest
unacked age, lag, alarm and device health (as the nodes last reported them)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.orders import figures
from cloud.web.deps import NodesPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX)


@router.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
def fleet(request: Request, user: NodesPage, session: SessionDep) -> Response:
    nodes = figures.fleet(session, user.who.account_id, datetime.now(UTC))
    return render(request, "fleet.html", {"nodes": nodes, "lag_s": figures.LAG_S}, user=user)
