"""Orders: the searchable list, one order's page (decision trail, history, node events), its
actions, and the CSV/XLSX export of a filtered list.

Every action is one row of :data:`ACTIONS`: the scope the API's route needs, the request
model the API validates it with, and the domain call the API makes (cloud/api/orders.py).
An action carries the order's ``changed_at`` as the page showed it: if another person acted
on the order meanwhile, the second is refused with who changed it and what it is now
(cloud/orders/core.py ``unchanged_since``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep, SettingsDep
from cloud.api.order_filter import Blank, OrderFilterDep
from cloud.api.schemas import HoldIn, MergeIn, NoteIn, OrderPatch, ReasonIn, SplitIn
from cloud.auth import Principal
from cloud.errors import N_
from cloud.orders import figures, hold_said, reversals, split_merge, workflow
from cloud.orders import release as releases
from cloud.orders import views as order_views
from cloud.orders.audit_rules import check_address
from cloud.orders.core import STATUSES, unchanged_since
from cloud.orders.views import OrderFilter
from cloud.stock.warehouses import warehouse_codes
from cloud.web import export as exports
from cloud.web import refusals
from cloud.web.deps import OrdersAction, OrdersPage
from cloud.web.render import money, render
from cloud.web.session import PREFIX, PageError, WebUser, require

router = APIRouter(prefix=PREFIX + "/orders")
PAGE = 50

Act = Callable[[Session, Principal, str, Any, datetime], str]


@dataclass(frozen=True)
class Action:
    scope: str
    model: type[BaseModel] | None
    run: Act


def _hold(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
    workflow.set_hold(s, w.account_id, no, True, b.reason, w.actor, now)
    return no


def _unhold(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
    workflow.set_hold(s, w.account_id, no, False, b.note, w.actor, now)
    return no


def _patch(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
    workflow.patch(s, w.account_id, no, b, w.actor, now)
    return no


def _split(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
    take: dict[str, int] = {}
    for ln in b.lines:
        take[ln.line_id] = take.get(ln.line_id, 0) + ln.qty
    return split_merge.split(s, w.account_id, no, take, w.actor, now).order_no


def _merge(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
    return split_merge.merge(s, w.account_id, [no, *b.order_nos[1:]], w.actor, now).order_no


def _simple(fn: Callable[..., Any]) -> Act:
    def run(s: Session, w: Principal, no: str, _b: Any, now: datetime) -> str:
        fn(s, w.account_id, no, w.actor, now)
        return no

    return run


def _reasoned(fn: Callable[..., Any]) -> Act:
    def run(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
        fn(s, w.account_id, no, b.reason, w.actor, now)
        return no

    return run


def _confirm(s: Session, w: Principal, no: str, b: Any, now: datetime) -> str:
    workflow.confirm(s, w.account_id, no, w.actor, now, b.note)
    return no


def _release(s: Session, w: Principal, no: str, _b: Any, now: datetime) -> str:
    releases.release(s, w.account_id, no, w.actor, now)
    return no


#: The order actions, each as its API route has it (scope, body model, domain call).
ACTIONS: dict[str, Action] = {
    "save": Action("orders:audit", None, _simple(workflow.save)),
    "confirm": Action("orders:audit", NoteIn, _confirm),
    "audit": Action("orders:audit", None, _simple(workflow.complete_audit)),
    "release": Action("orders:audit", None, _release),
    "hold": Action("orders:write", HoldIn, _hold),
    "unhold": Action("orders:audit", NoteIn, _unhold),
    "patch": Action("orders:write", OrderPatch, _patch),
    "split": Action("orders:write", SplitIn, _split),
    "merge": Action("orders:write", MergeIn, _merge),
    "reject": Action("orders:audit", ReasonIn, _reasoned(reversals.reject)),
    "cancel": Action("orders:write", ReasonIn, _reasoned(workflow.cancel)),
    "cancel-outbound": Action("orders:audit", ReasonIn, _reasoned(reversals.cancel_outbound)),
    "reverse-outbound": Action("orders:ship", ReasonIn, _reasoned(reversals.reverse_outbound)),
    "ship": Action("orders:ship", None, _simple(workflow.ship)),
}


def _body(request: Request, action: Action, form: Any, order_no: str) -> Any:
    """The form as the API's request model, validated by it (422 page naming the field)."""
    if action.model is None:
        return None
    data: dict[str, Any] = {}
    fields = action.model.model_fields
    for name in ("reason", "note", "seller_carrier", "warehouse", "seller_note"):
        value = str(form.get(name, "")).strip()
        if name in fields and value:
            data[name] = value
    if action.model is SplitIn:
        data["lines"] = [
            {"line_id": key[4:], "qty": int(v)}
            for key, v in form.items()
            if key.startswith("qty:") and str(v).strip().isdigit() and int(v) > 0
        ]
    if action.model is MergeIn:
        others = [n for n in str(form.get("order_nos", "")).replace(",", " ").split() if n]
        data["order_nos"] = [order_no, *others]
    try:
        return action.model.model_validate(data)
    except ValidationError as err:
        raise refusals.invalid(request, err) from err


def _list(
    session: Session,
    account_id: int,
    f: OrderFilter,
    late: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    if late is not None:
        return figures.late_orders(session, account_id, late, limit, offset)
    return order_views.page(session, account_id, f, limit=limit, offset=offset)


#: The filters the list's form and links carry, in the API's names (cloud/api/order_filter.py).
FILTER_FIELDS = (
    "q",
    "status",
    "channel",
    "shop",
    "carrier",
    "warehouse",
    "arrived_from",
    "arrived_to",
    "shipped_from",
    "shipped_to",
)


def _narrowed(f: OrderFilter, held: bool | None) -> OrderFilter:
    """The page's ``held`` (the home page's links) is the API's ``on_hold``."""
    return replace(f, on_hold=held) if held is not None else f


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def order_list(
    request: Request,
    user: OrdersPage,
    session: SessionDep,
    settings: SettingsDep,
    f: OrderFilterDep,
    held: Annotated[bool | None, Blank, Query()] = None,
    late: bool = False,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    f = _narrowed(f, held if held is not None else f.on_hold)
    cut = figures.last_cutoff(datetime.now(UTC), settings.dashboard_cutoff_hour) if late else None
    rows = _list(session, user.who.account_id, f, cut, PAGE + 1, page * PAGE)
    filters = {k: "" if getattr(f, k) is None else str(getattr(f, k)) for k in FILTER_FIELDS}
    filters["held"] = "" if f.on_hold is None else str(f.on_hold).lower()
    filters["late"] = "1" if late else ""
    query = urlencode({k: v for k, v in filters.items() if v})
    account = user.who.account_id
    return render(
        request,
        "orders.html",
        {
            "orders": rows[:PAGE],
            "more": len(rows) > PAGE,
            "page": page,
            "filters": filters,
            "query": query,
            "statuses": STATUSES,
            "warehouses": warehouse_codes(session, account),
            "choices": figures.order_choices(session, account),
        },
        user=user,
    )


@router.get("/export.{fmt}", include_in_schema=False)
async def export(
    request: Request,
    fmt: Literal["csv", "xlsx"],
    user: OrdersPage,
    settings: SettingsDep,
    f: OrderFilterDep,
    held: Annotated[bool | None, Blank, Query()] = None,
    late: bool = False,
) -> Response:
    """The filtered list as a file (cloud/web/export.py: one export of a user at a time,
    at most EXPORT_MAX rows, CSV injection guarded)."""
    f = _narrowed(f, held)
    cut = figures.last_cutoff(datetime.now(UTC), settings.dashboard_cutoff_hour) if late else None

    def pages(s: Session, limit: int, offset: int) -> list[list[Any]]:
        return [_cells(o) for o in _list(s, user.who.account_id, f, cut, limit, offset)]

    return await exports.send(request, user.who.user_id, "orders", fmt, EXPORT_COLUMNS, pages)


EXPORT_COLUMNS = (
    "order_no",
    "channel",
    "status",
    "on_hold",
    "hold_reason",
    "warehouse",
    "carrier",
    "tracking_number",
    "buyer_nick",
    "total",
    "created_at",
)


def _cells(o: dict[str, Any]) -> list[Any]:
    return [money(o["total_cents"]) if c == "total" else o.get(c) for c in EXPORT_COLUMNS]


@router.get("/{order_no}", response_class=HTMLResponse, include_in_schema=False)
def order_page(request: Request, order_no: str, user: OrdersPage, session: SessionDep) -> Response:
    return render(
        request, "order.html", {"panel": order_context(session, user, order_no)}, user=user
    )


def order_context(session: Session, user: WebUser, order_no: str) -> dict[str, Any]:
    """What one order's page shows: the order, its parsed address, node events, warehouses."""
    order = order_views.detail(session, user.who.account_id, order_no, said=True)
    order["hold_said"] = hold_said.hold_said(
        order["hold_reason"], order["decisions"], order["history"]
    )
    ok, parsed, _ = check_address(order["recipient"])
    events = []
    if user.can("nodes:read"):
        events = figures.node_events(session, user.who.account_id, order_no)
    return {
        "o": order,
        "address_ok": ok,
        "address_parsed": parsed,
        "events": events,
        "warehouses": warehouse_codes(session, user.who.account_id),
        "seen": order["changed_at"].isoformat(),
        "can": {name: user.can(a.scope) for name, a in ACTIONS.items()},
    }


@router.post("/{order_no}/{name}", include_in_schema=False)
async def act(
    request: Request, order_no: str, name: str, user: OrdersAction, session: SessionDep
) -> Response:
    action = ACTIONS.get(name)
    if action is None:
        raise PageError(404, N_("no order action %(name)r"), None, name=name)
    require(user, action.scope)
    form = await request.form()
    body = _body(request, action, form, order_no)
    seen = str(form.get("seen", ""))
    back = str(form.get("back", "")) or "order"

    def run() -> str:
        now = datetime.now(UTC)
        if seen:
            unchanged_since(session, user.who.account_id, order_no, seen)
        return action.run(session, user.who, order_no, body, now)

    target = await asyncio.to_thread(run)
    if back == "audit":
        return RedirectResponse(f"{PREFIX}/audit?done={name}", status_code=303)
    return RedirectResponse(f"{PREFIX}/orders/{target}?done={name}", status_code=303)
