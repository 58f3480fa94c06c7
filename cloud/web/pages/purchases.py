"""Suppliers and purchase orders (采购单) on the dashboard: the supplier list, the PO list (by
status, supplier, warehouse or SKU), one PO with its lines, receipts and what is still open
(a partial receipt shows per line), and the form that creates a PO. Read and written through
the same domain functions as /suppliers and /purchase-orders (cloud/api/purchases.py), with
their scopes: stock:read to read, stock:write to create (docs/inbound.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.api.purchase_schemas import PoIn
from cloud.api.purchases import po_out
from cloud.errors import DomainError
from cloud.inbound import orders, receipts, suppliers
from cloud.stock.warehouses import list_warehouses
from cloud.web import i18n
from cloud.web.deps import StockPage, action, page
from cloud.web.pages.forms import parse_lines, validation_errors
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX, WebUser

router = APIRouter(prefix=PREFIX + "/stock")
PAGE = 50
#: Creating needs what ``POST /purchase-orders`` needs.
StockWritePage = Annotated[WebUser, Depends(page("stock:write"))]
StockWriteAction = Annotated[WebUser, Depends(action("stock:write"))]
Filter = Annotated[str | None, Query(max_length=120)]


@router.get("/suppliers", response_class=HTMLResponse, include_in_schema=False)
def supplier_list(
    request: Request,
    user: StockPage,
    session: SessionDep,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    rows = suppliers.list_suppliers(session, user.who.account_id, PAGE + 1, page * PAGE)
    return render(
        request,
        "suppliers.html",
        {"rows": rows[:PAGE], "more": len(rows) > PAGE, "page": page},
        user=user,
    )


@router.get("/purchase-orders", response_class=HTMLResponse, include_in_schema=False)
def po_list(
    request: Request,
    user: StockPage,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=24)] = None,
    supplier: Filter = None,
    warehouse: Filter = None,
    sku: Filter = None,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    rows = orders.list_orders(
        session,
        user.who.account_id,
        status=status or None,
        supplier=supplier or None,
        warehouse=warehouse or None,
        sku_code=sku or None,
        limit=PAGE + 1,
        offset=page * PAGE,
    )
    return render(
        request,
        "purchase_orders.html",
        {
            "rows": [po_out(session, po) for po in rows[:PAGE]],
            "more": len(rows) > PAGE,
            "page": page,
            "status": status or "",
            "supplier": supplier or "",
            "warehouse": warehouse or "",
            "sku": sku or "",
            "states": orders.STATES,
            "warehouses": [w.code for w in list_warehouses(session, user.who.account_id)],
        },
        user=user,
    )


def _refs(text: str) -> list[str]:
    """The delivery references typed one per row; blank rows are skipped (the domain trims
    and checks the rest, cloud/inbound/orders.py ``clean_refs``)."""
    return [row for row in text.splitlines() if row.strip()]


def _form_page(
    request: Request,
    user: WebUser,
    session: Session,
    form: dict[str, str],
    errors: list[tuple[str | None, str]],
    status: int = 200,
) -> Response:
    acct = user.who.account_id
    return render(
        request,
        "purchase_order_new.html",
        {
            "form": form,
            "errors": errors,
            "warehouses": [w.code for w in list_warehouses(session, acct)],
            "suppliers": suppliers.list_suppliers(session, acct, 1000, 0),
        },
        user=user,
        status=status,
    )


@router.get("/purchase-orders/new", response_class=HTMLResponse, include_in_schema=False)
def po_new(request: Request, user: StockWritePage, session: SessionDep) -> Response:
    return _form_page(request, user, session, {"tolerance_pct": "0"}, [])


@router.post("/purchase-orders", include_in_schema=False)
async def po_create(request: Request, user: StockWriteAction, session: SessionDep) -> Response:
    """Create a PO as ``POST /purchase-orders`` does. A refusal shows the form again with what
    was typed and why, in the page's language (422 for the input, 409 for a conflict), and
    stores nothing."""
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items() if isinstance(v, str) and k != "csrf"}
    gettext = i18n.translations(locale_of(request)).gettext
    lines, bad = parse_lines(form.get("lines", ""), price=True)
    errors: list[tuple[str | None, str]] = [("lines", gettext(m) % v) for m, v in bad]
    body: dict[str, Any] = {
        "number": form.get("number", "").strip(),
        "warehouse": form.get("warehouse", "").strip(),
        "supplier": form.get("supplier", "").strip() or None,
        "eta": form.get("eta", "").strip() or None,
        "tolerance_pct": form.get("tolerance_pct", "").strip() or "0",
        "lines": [{"sku_code": s, "qty": q, "unit_price": p} for s, q, p in lines],
        "delivery_refs": _refs(form.get("delivery_refs", "")),
        "confirm": bool(form.get("confirm")),
    }
    try:
        item = PoIn.model_validate(body)
    except ValidationError as err:
        errors += validation_errors(gettext, err, lines_refused=bool(bad))
    if errors:
        return _form_page(request, user, session, form, errors, 422)

    def run() -> str:
        po = orders.create(
            session,
            user.who.account_id,
            item.number,
            item.warehouse,
            [orders.LineIn(ln.sku_code, ln.qty, ln.unit_price) for ln in item.lines],
            user.who.actor,
            datetime.now(UTC),
            supplier=item.supplier,
            eta=item.eta,
            tolerance_pct=item.tolerance_pct,
            confirm=item.confirm,
            delivery_refs=item.delivery_refs,
        )
        return po.number

    try:
        number = await asyncio.to_thread(run)
    except DomainError as err:
        session.rollback()  # nothing of a refused PO stays
        field = getattr(err, "field", None)
        return _form_page(
            request, user, session, form, [(field, err.translated(gettext))], err.status
        )
    return RedirectResponse(
        f"{PREFIX}/stock/purchase-orders/{quote(number, safe='')}?done=1", status_code=303
    )


def _detail(
    request: Request,
    user: WebUser,
    session: Session,
    number: str,
    *,
    refs_text: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    po = orders.get(session, user.who.account_id, number)
    out = po_out(session, po)
    return render(
        request,
        "purchase_order.html",
        {
            "po": out,
            "receipts": receipts.receipts_of(session, po),
            "received": sum(ln.received for ln in out.lines),
            "ordered": sum(ln.qty for ln in out.lines),
            "total": out.total.quantize(Decimal("0.01")),
            "refs_editable": po.status in ("draft", *orders.OPEN),
            "refs_text": "\n".join(out.delivery_refs) if refs_text is None else refs_text,
            "refs_errors": errors or [],
        },
        user=user,
        status=status,
    )


@router.get("/purchase-orders/{number}", response_class=HTMLResponse, include_in_schema=False)
def po_detail(request: Request, number: str, user: StockPage, session: SessionDep) -> Response:
    return _detail(request, user, session, number)


@router.post("/purchase-orders/{number}/delivery-refs", include_in_schema=False)
async def po_refs(
    request: Request, number: str, user: StockWriteAction, session: SessionDep
) -> Response:
    """Replace the PO's delivery references as ``PUT /purchase-orders/{number}/delivery-refs``
    does; a refusal shows the page again with what was typed and why, storing nothing."""
    raw = await request.form()
    text = str(raw.get("delivery_refs") or "")
    gettext = i18n.translations(locale_of(request)).gettext

    def run() -> None:
        orders.set_delivery_refs(
            session,
            user.who.account_id,
            number,
            _refs(text),
            user.who.actor,
            datetime.now(UTC),
        )

    try:
        await asyncio.to_thread(run)
    except DomainError as err:
        session.rollback()  # the references stay as they were
        if err.status == 404:
            raise
        return _detail(
            request,
            user,
            session,
            number,
            refs_text=text,
            errors=[err.translated(gettext)],
            status=err.status,
        )
    return RedirectResponse(
        f"{PREFIX}/stock/purchase-orders/{quote(number, safe='')}?done=1", status_code=303
    )
