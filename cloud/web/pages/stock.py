"""Stock: F9 (总仓库, every warehouse at once) and F10 (分仓库存, one warehouse, with the
columns each user chooses and orders, kept per user), keyword search as the source
describes it (space-separated keywords in any order), and a SKU's ledger movements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.api.deps import SessionDep
from cloud.stock import columns as stock_columns
from cloud.stock import ledger
from cloud.stock import views as stock_views
from cloud.stock.warehouses import get_warehouse, list_warehouses
from cloud.web.deps import StockAction, StockPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/stock")
PAGE = 50
Keywords = Annotated[str | None, Query(max_length=200)]
Page = Annotated[int, Query(ge=0, le=10_000)]
F9_COLUMNS = ["name", "on_hand", "reserved", "available", "inbound", "damaged", "sales_7d"]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def overview(
    request: Request, user: StockPage, session: SessionDep, q: Keywords = None, page: Page = 0
) -> Response:
    rows = stock_views.stock_view(
        session,
        user.who.account_id,
        datetime.now(UTC),
        warehouse=None,
        query=q,
        columns=F9_COLUMNS,
        limit=PAGE + 1,
        offset=page * PAGE,
    )
    return render(
        request,
        "stock.html",
        {
            "rows": rows[:PAGE],
            "more": len(rows) > PAGE,
            "page": page,
            "q": q or "",
            "columns": F9_COLUMNS,
            "warehouse": None,
            "warehouses": [w.code for w in list_warehouses(session, user.who.account_id)],
        },
        user=user,
    )


@router.get("/warehouses/{code}", response_class=HTMLResponse, include_in_schema=False)
def per_warehouse(
    request: Request,
    code: str,
    user: StockPage,
    session: SessionDep,
    q: Keywords = None,
    page: Page = 0,
) -> Response:
    cols = stock_columns.chosen(session, user.who.user_id)
    rows = stock_views.stock_view(
        session,
        user.who.account_id,
        datetime.now(UTC),
        warehouse=code,
        query=q,
        columns=cols,
        limit=PAGE + 1,
        offset=page * PAGE,
    )
    return render(
        request,
        "stock.html",
        {
            "rows": rows[:PAGE],
            "more": len(rows) > PAGE,
            "page": page,
            "q": q or "",
            "columns": cols,
            "warehouse": code,
            "all_columns": stock_views.COLUMNS,
            "warehouses": [w.code for w in list_warehouses(session, user.who.account_id)],
        },
        user=user,
    )


@router.post("/columns", include_in_schema=False)
async def save_columns(request: Request, user: StockAction, session: SessionDep) -> Response:
    """The user's F10 columns: the ticked ones, ordered by the numbers given beside them."""
    form = await request.form()
    picked: list[tuple[int, int, str]] = []
    for i, col in enumerate(stock_views.COLUMNS):
        if form.get(f"show:{col}"):
            raw = str(form.get(f"pos:{col}", "")).strip()
            pos = int(raw) if raw.isdigit() and len(raw) < 4 else 999
            picked.append((pos, i, col))
    cols = [c for _, _, c in sorted(picked)]
    stock_columns.choose(session, user.who.user_id, cols, datetime.now(UTC))
    code = str(form.get("warehouse", ""))
    get_warehouse(session, user.who.account_id, code)  # 404 for a code not the account's
    return RedirectResponse(f"{PREFIX}/stock/warehouses/{code}", status_code=303)


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
