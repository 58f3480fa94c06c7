"""E-waybills (电子面单): per courier, its source and how many draws are in each state
(waiting, on an order, to give back, given back, never drawn, refused), and the refused draws
with their reasons, and each pack node's offline pool per courier: its target and how many
numbers are on the node, on the way and used offline (docs/channels.md, "E-waybills", "The
offline pool"). Read with channels:read, from the same
rows the drawer writes (cloud/channels/waybills.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.channels import views, waybill_pool
from cloud.web.deps import ChannelsPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/waybills")

#: How many refused draws the page lists (the API lists each order's draws).
SHOWN = 50


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def waybill_page(request: Request, user: ChannelsPage, session: SessionDep) -> Response:
    account_id = user.who.account_id
    return render(
        request,
        "waybills.html",
        {
            "couriers": views.waybill_summary(session, account_id),
            "failed": views.waybill_failures(session, account_id, SHOWN),
            "shown": SHOWN,
            "pools": waybill_pool.levels(session, account_id),
        },
        user=user,
    )
