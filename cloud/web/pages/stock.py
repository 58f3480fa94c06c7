"""Stock: F9 (总仓库, every warehouse at once) and F10 (分仓库存, one warehouse, with the
columns each user chooses and orders, kept per user), keyword search as the source
describes it (space-separated keywords in any order), a SKU's ledger movements, and the
list as filtered exported as CSV or XLSX (cloud/web/export.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.stock import columns as stock_columns
from cloud.stock import ledger
from cloud.stock import views as stock_views
from cloud.stock.warehouses import get_warehouse, list_warehouses, warehouse_codes
from cloud.web import export
from cloud.web.deps import StockAction, StockPage
from cloud.web.render import render
from cloud.web.session import PREFIX, WebUser

router = APIRouter(prefix=PREFIX + "/stock")
PAGE = 50
Keywords = Annotated[str | None, Query(max_length=200)]
Page = Annotated[int, Query(ge=0, le=10_000)]


def _columns(session: Session, user: WebUser, code: str | None) -> list[str]:
    """The columns this user chose for F9 or F10 (cloud/stock/columns.py)."""
    return stock_columns.chosen(session, user.who.user_id, "f9" if code is None else "f10")


def _rows(
    session: Session,
    account_id: int,
    code: str | None,
    q: str | None,
    cols: list[str],
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    return stock_views.stock_view(
        session,
        account_id,
        datetime.now(UTC),
        warehouse=code,
        query=q,
        columns=cols,
        limit=limit,
        offset=offset,
    )


def _page(
    request: Request, user: WebUser, session: Session, code: str | None, q: str | None, page: int
) -> Response:
    """F9 (``code`` None) or F10: the one page both are."""
    cols = _columns(session, user, code)
    rows = _rows(session, user.who.account_id, code, q, cols, PAGE + 1, page * PAGE)
    return render(
        request,
        "stock.html",
        {
            "rows": rows[:PAGE],
            "more": len(rows) > PAGE,
            "page": page,
            "q": q or "",
            "query": urlencode({"q": q}) if q else "",
            "columns": cols,
            "warehouse": code,
            "all_columns": stock_columns.offered("f9" if code is None else "f10"),
            "warehouses": warehouse_codes(session, user.who.account_id),
        },
        user=user,
    )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def overview(
    request: Request, user: StockPage, session: SessionDep, q: Keywords = None, page: Page = 0
) -> Response:
    return _page(request, user, session, None, q, page)


@router.get("/warehouses/{code}", response_class=HTMLResponse, include_in_schema=False)
def per_warehouse(
    request: Request,
    code: str,
    user: StockPage,
    session: SessionDep,
    q: Keywords = None,
    page: Page = 0,
) -> Response:
    return _page(request, user, session, code, q, page)


def _cell(row: dict[str, Any], col: str) -> Any:
    """A cell of the export as the page shows it (bins, purchases, the F9 split as text)."""
    value = row.get(col)
    if col == "bins":
        return ", ".join(f"{b['bin']}: {b['qty']}" for b in value or [])
    if col == "purchases":
        return ", ".join(f"{p['po_number']} {p['open']} ({p['eta']})" for p in value or [])
    if col == "warehouses":
        return " · ".join(f"{w} {v['available']}" for w, v in (value or {}).items())
    return value


async def _export(
    request: Request,
    user: WebUser,
    session: Session,
    code: str | None,
    q: str | None,
    fmt: export.Format,
) -> Response:
    """The list as filtered (same keywords; F10's chosen columns, in their order)."""
    cols = _columns(session, user, code)
    if code is not None:
        get_warehouse(session, user.who.account_id, code)  # 404 for a code not the account's
    header = ["sku_code", *cols, *(["warehouses"] if code is None else [])]

    def pages(s: Session, limit: int, offset: int) -> list[list[Any]]:
        rows = _rows(s, user.who.account_id, code, q, cols, limit, offset)
        return [[_cell(r, c) for c in header] for r in rows]

    name = "stock" if code is None else f"stock-{quote(code)}"
    return await export.send(request, user.who.user_id, name, fmt, header, pages)


@router.get("/export.{fmt}", include_in_schema=False)
async def export_overview(
    request: Request, fmt: export.Format, user: StockPage, session: SessionDep, q: Keywords = None
) -> Response:
    return await _export(request, user, session, None, q, fmt)


@router.get("/warehouses/{code}/export.{fmt}", include_in_schema=False)
async def export_warehouse(
    request: Request,
    code: str,
    fmt: export.Format,
    user: StockPage,
    session: SessionDep,
    q: Keywords = None,
) -> Response:
    return await _export(request, user, session, code, q, fmt)


@router.post("/columns", include_in_schema=False)
async def save_columns(request: Request, user: StockAction, session: SessionDep) -> Response:
    """The user's F10 columns (F9's when the form names no warehouse): the ticked ones,
    ordered by the numbers given beside them."""
    form = await request.form()
    code = str(form.get("warehouse", ""))
    view: stock_columns.View = "f10" if code else "f9"
    picked: list[tuple[int, int, str]] = []
    for i, col in enumerate(stock_views.COLUMNS):
        if form.get(f"show:{col}"):
            raw = str(form.get(f"pos:{col}", "")).strip()
            pos = int(raw) if raw.isdigit() and len(raw) < 4 else 999
            picked.append((pos, i, col))
    cols = [c for _, _, c in sorted(picked)]
    stock_columns.choose(session, user.who.user_id, cols, datetime.now(UTC), view)
    if not code:
        return RedirectResponse(f"{PREFIX}/stock", status_code=303)
    get_warehouse(session, user.who.account_id, code)  # 404 for a code not the account's
    return RedirectResponse(f"{PREFIX}/stock/warehouses/{quote(code)}", status_code=303)


@router.get("/movements", response_class=HTMLResponse, include_in_schema=False)
def movements(
    request: Request,
    user: StockPage,
    session: SessionDep,
    sku: Annotated[str, Query(min_length=1, max_length=120)],
    page: Page = 0,
) -> Response:
    rows = ledger.movements(
        session, user.who.account_id, sku_code=sku, limit=PAGE + 1, offset=page * PAGE
    )
    codes = {w.id: w.code for w in list_warehouses(session, user.who.account_id)}
    return render(
        request,
        "movements.html",
        {"rows": rows[:PAGE], "more": len(rows) > PAGE, "page": page, "sku": sku, "codes": codes},
        user=user,
    )
