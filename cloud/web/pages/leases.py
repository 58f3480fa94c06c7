"""Pick leases: which pick node holds which released orders, per warehouse and node, and
the move action (choose another pick node of the order's warehouse).

The move is the API's ``POST /api/v1/orders/{order_no}/pick-node`` (scope nodes:write;
cloud/api/orders.py): the same request model (PickNodeIn), the same domain call
(cloud/orders/release.py ``move``), and its refusal sentence on the error page (a node that
is not a pick node of the warehouse, an order already picked). The form also carries the
order's ``changed_at`` as the page showed it: someone who acted on the order meanwhile
makes the move refused with who and what (cloud/orders/core.py ``unchanged_since``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cloud.api.deps import SessionDep
from cloud.orders import leases
from cloud.orders import release as releases
from cloud.orders.core import unchanged_since
from cloud.stock.warehouses import list_warehouses
from cloud.web import refusals
from cloud.web.deps import NodesAction, NodesPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/pick-leases")


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def lease_list(
    request: Request,
    user: NodesPage,
    session: SessionDep,
    warehouse: Annotated[str | None, Query(max_length=64)] = None,
    node: Annotated[str | None, Query(max_length=64)] = None,
    done: str | None = None,
) -> Response:
    """Released orders by warehouse and pick node (``node=-``: held by no node)."""
    wh = warehouse or None
    which = "" if node == "-" else (node or None)
    view = leases.view(session, user.who.account_id, wh, which)
    return render(
        request,
        "leases.html",
        {
            "leases": view,
            "warehouses": [w.code for w in list_warehouses(session, user.who.account_id)],
            "warehouse": wh or "",
            "node": node or "",
            "done": done,
            "back": str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
        },
        user=user,
    )


def _back(value: str) -> str:
    """Where to go after the move: a page of the dashboard, never another site."""
    if value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/pick-leases"


@router.post("", include_in_schema=False)
async def move_many(request: Request, user: NodesAction, session: SessionDep) -> Response:
    """The bulk move: the orders ticked on the page to one pick node, with one reason.
    The same checks as one move (``PickNodeIn``, cloud/orders/release.py ``move``, each
    order's version as the page showed it), all in one transaction
    (``releases.move_many``): every order moves or, when one is refused, none does and the
    error page names the order and why."""
    form = await request.form()
    try:
        body = releases.PickNodeIn.model_validate(
            {"node": str(form.get("node", "")).strip(), "reason": str(form.get("reason", ""))}
        )
    except ValidationError as err:
        raise refusals.invalid(request, err) from err
    picks: list[tuple[str, str | None]] = []
    for value in form.getlist("order"):
        # "order no@changed_at": an ISO time has no "@", an order no might.
        no, at, seen = str(value).rpartition("@")
        picks.append((no, seen) if at else (seen, None))
    back = _back(str(form.get("back", "")))

    def run() -> None:
        releases.move_many(
            session, user.who.account_id, picks, body, user.who.actor, datetime.now(UTC)
        )

    await asyncio.to_thread(run)
    url = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(url.query) if k != "done"]
    nos = [no for no, _ in picks]
    more = f" … (+{len(nos) - 10})" if len(nos) > 10 else ""  # the notice stays short
    query.append(("done", f"{', '.join(nos[:10])}{more} → {body.node}"))
    return RedirectResponse(f"{url.path}?{urlencode(query)}", status_code=303)


@router.post("/{order_no}", include_in_schema=False)
async def move(request: Request, order_no: str, user: NodesAction, session: SessionDep) -> Response:
    form = await request.form()
    try:
        body = releases.PickNodeIn.model_validate(
            {"node": str(form.get("node", "")).strip(), "reason": str(form.get("reason", ""))}
        )
    except ValidationError as err:
        raise refusals.invalid(request, err) from err
    seen = str(form.get("seen", ""))
    back = _back(str(form.get("back", "")))

    def run() -> None:
        now = datetime.now(UTC)
        if seen:
            unchanged_since(session, user.who.account_id, order_no, seen)
        releases.move(session, user.who.account_id, order_no, body, user.who.actor, now)

    await asyncio.to_thread(run)
    url = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(url.query) if k != "done"]
    query.append(("done", f"{order_no} → {body.node}"))
    return RedirectResponse(f"{url.path}?{urlencode(query)}", status_code=303)
