"""Create forms for two documents whose lists and steps have their own pages: a transfer
(调拨单, cloud/web/pages/transfers.py) and an after-sales request entered by hand (售后单,
cloud/web/pages/aftersales.py). Each form's POST builds the body of the API's create route
(``POST /transfers``, ``POST /aftersales``), validates it with the API's model and calls the
same domain function, with the API's scope (stock:write; orders:write). A refusal shows the
form again with what was typed and why, in the page's language (422 for the input, 409 for a
conflict), and stores nothing.

Registered before those pages' routers (cloud/web/mount.py): ``/new`` is not a document
number."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from cloud.aftersales import requests
from cloud.api.aftersales import RequestIn
from cloud.api.deps import SessionDep
from cloud.api.transfers import TransferIn
from cloud.errors import DomainError
from cloud.inbound import transfers
from cloud.orders import core as orders
from cloud.stock.warehouses import list_warehouses
from cloud.web import i18n
from cloud.web.deps import action, page
from cloud.web.pages.forms import parse_lines, validation_errors
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX, WebUser

router = APIRouter(prefix=PREFIX)
StockWritePage = Annotated[WebUser, Depends(page("stock:write"))]
StockWriteAction = Annotated[WebUser, Depends(action("stock:write"))]
OrdersWritePage = Annotated[WebUser, Depends(page("orders:write"))]
OrdersWriteAction = Annotated[WebUser, Depends(action("orders:write"))]
Errors = list[tuple[str | None, str]]
M = TypeVar("M", bound=BaseModel)


async def _form(request: Request) -> dict[str, str]:
    raw = await request.form()
    return {k: str(v) for k, v in raw.items() if isinstance(v, str) and k != "csrf"}


def _validated(
    model: type[M], body: dict[str, Any], gettext: Callable[[str], str], errors: Errors
) -> M | None:
    try:
        item = model.model_validate(body)
    except ValidationError as err:
        errors += validation_errors(gettext, err, lines_refused=bool(errors))
        return None
    return item if not errors else None


async def _create(
    request: Request,
    session: Session,
    run: Callable[[], str],
    again: Callable[[Errors, int], Response],
    to: str,
) -> Response:
    """Run the domain's create; on a refusal roll back and show the form again."""
    gettext = i18n.translations(locale_of(request)).gettext
    try:
        number = await asyncio.to_thread(run)
    except DomainError as err:
        session.rollback()  # nothing of a refused document stays
        return again([(getattr(err, "field", None), err.translated(gettext))], err.status)
    return RedirectResponse(f"{to}/{quote(number, safe='')}?done=1", status_code=303)


# --- transfers ---------------------------------------------------------------------------


def _transfer_page(
    request: Request,
    user: WebUser,
    session: Session,
    form: dict[str, str],
    errors: Errors,
    status: int = 200,
) -> Response:
    codes = [w.code for w in list_warehouses(session, user.who.account_id)]
    return render(
        request,
        "transfer_new.html",
        {"form": form, "errors": errors, "warehouses": codes, "kinds": transfers.KINDS},
        user=user,
        status=status,
    )


@router.get("/stock/transfers/new", response_class=HTMLResponse, include_in_schema=False)
def transfer_new(request: Request, user: StockWritePage, session: SessionDep) -> Response:
    return _transfer_page(request, user, session, {"kind": "same_price"}, [])


@router.post("/stock/transfers", include_in_schema=False)
async def transfer_create(
    request: Request, user: StockWriteAction, session: SessionDep
) -> Response:
    form = await _form(request)
    gettext = i18n.translations(locale_of(request)).gettext
    lines, bad = parse_lines(form.get("lines", ""), price=True, optional=True)
    errors: Errors = [("lines", gettext(m) % v) for m, v in bad]
    body = {
        "number": form.get("number", "").strip(),
        "kind": form.get("kind", "same_price"),
        "from_warehouse": form.get("from_warehouse", "").strip(),
        "to_warehouse": form.get("to_warehouse", "").strip(),
        "from_bin": form.get("from_bin", "").strip() or None,
        "to_bin": form.get("to_bin", "").strip() or None,
        "note": form.get("note", "").strip() or None,
        "lines": [{"sku_code": s, "qty": q, "unit_cost": c or None} for s, q, c in lines],
        "audit": bool(form.get("audit")),
    }
    item = _validated(TransferIn, body, gettext, errors)
    if item is None:
        return _transfer_page(request, user, session, form, errors, 422)

    def run() -> str:
        return transfers.create(
            session,
            user.who.account_id,
            item.number,
            item.kind,
            item.from_warehouse,
            item.to_warehouse,
            [transfers.LineIn(ln.sku_code, ln.qty, ln.unit_cost) for ln in item.lines],
            user.who.actor,
            datetime.now(UTC),
            from_bin=item.from_bin,
            to_bin=item.to_bin,
            note=item.note,
            audit=item.audit,
        ).number

    return await _create(
        request,
        session,
        run,
        lambda e, s: _transfer_page(request, user, session, form, e, s),
        f"{PREFIX}/stock/transfers",
    )


# --- after-sales requests ----------------------------------------------------------------


def _request_page(
    request: Request,
    user: WebUser,
    session: Session,
    form: dict[str, str],
    errors: Errors,
    status: int = 200,
) -> Response:
    """The form, with the order's lines (their ids are what a request names) when the
    order is the caller's; another account's order shows as not found."""
    order_no = form.get("order_no", "").strip()
    lines: list[Any] = []
    if order_no:
        try:
            o = orders.get(session, user.who.account_id, order_no, lock=False)
        except DomainError as err:
            errors = [
                *errors,
                ("order_no", err.translated(i18n.translations(locale_of(request)).gettext)),
            ]
            status = status if status != 200 else 404
        else:
            lines = orders.lines_of(session, [o.id]).get(o.id, [])
    return render(
        request,
        "aftersales_new.html",
        {"form": form, "errors": errors, "lines": lines, "kinds": requests.KINDS},
        user=user,
        status=status,
    )


@router.get("/aftersales/new", response_class=HTMLResponse, include_in_schema=False)
def request_new(
    request: Request,
    user: OrdersWritePage,
    session: SessionDep,
    order_no: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    return _request_page(request, user, session, {"order_no": order_no, "kind": "return"}, [])


@router.post("/aftersales", include_in_schema=False)
async def request_create(
    request: Request, user: OrdersWriteAction, session: SessionDep
) -> Response:
    form = await _form(request)
    gettext = i18n.translations(locale_of(request)).gettext
    lines, bad = parse_lines(form.get("lines", ""), price=True, optional=True)
    errors: Errors = [("lines", gettext(m) % v) for m, v in bad]
    body = {
        "order_no": form.get("order_no", "").strip(),
        "kind": form.get("kind", ""),
        "number": form.get("number", "").strip() or None,
        "reason": form.get("reason", "").strip() or None,
        "return_waybill": form.get("return_waybill", "").strip() or None,
        "lines": [
            {"order_line_id": s, "qty": q, "exchange_sku_code": x or None} for s, q, x in lines
        ],
    }
    item = _validated(RequestIn, body, gettext, errors)
    if item is None:
        return _request_page(request, user, session, form, errors, 422)

    def run() -> str:
        req, _ = requests.create(
            session,
            user.who.account_id,
            item.order_no,
            item.kind,
            [requests.LineIn(ln.order_line_id, ln.qty, ln.exchange_sku_code) for ln in item.lines],
            user.who.actor,
            datetime.now(UTC),
            number=item.number,
            reason=item.reason,
            return_waybill=item.return_waybill,
        )
        return req.number

    return await _create(
        request,
        session,
        run,
        lambda e, s: _request_page(request, user, session, form, e, s),
        f"{PREFIX}/aftersales",
    )
