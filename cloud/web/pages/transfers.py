"""Transfers (调拨单) on the dashboard: the list (by status, warehouse or SKU) and one
transfer with its lines, node shipments, receipts and reversals, and the steps a lead takes
on it: 出库审核 (audit), ship, ship the rest of a short pick (补发), move its pick to another
node, cancel, 冲销出库 and 取消入库 (docs/inbound.md "Transfers"). Creating one and
receiving it are the API's and the receiving station's (not built here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.api.deps import SessionDep
from cloud.api.transfers import transfer_out
from cloud.errors import N_
from cloud.inbound import transfer_moves, transfer_pick, transfer_ship, transfers
from cloud.stock.warehouses import list_warehouses
from cloud.web.deps import StockPage, action
from cloud.web.render import render
from cloud.web.session import PREFIX, PageError, WebUser

router = APIRouter(prefix=PREFIX + "/stock/transfers")
PAGE = 50
StockWriteAction = Annotated[WebUser, Depends(action("stock:write"))]
Filter = Annotated[str | None, Query(max_length=120)]
#: The steps the page offers, each with whether it takes a reason.
STEPS: Final = {
    "audit": False,
    "ship": False,
    "ship-rest": False,
    "ship-rest-hub": False,
    "cancel-rest": True,
    "cancel": True,
    "cancel-shipment": True,
}


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def list_page(
    request: Request,
    user: StockPage,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=24)] = None,
    warehouse: Filter = None,
    sku: Filter = None,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    rows = transfers.list_transfers(
        session,
        user.who.account_id,
        status=status or None,
        warehouse=warehouse or None,
        sku_code=sku or None,
        limit=PAGE + 1,
        offset=page * PAGE,
    )
    return render(
        request,
        "transfers.html",
        {
            "rows": [transfer_out(session, t) for t in rows[:PAGE]],
            "more": len(rows) > PAGE,
            "page": page,
            "status": status or "",
            "warehouse": warehouse or "",
            "sku": sku or "",
            "states": transfers.STATES,
            "warehouses": [w.code for w in list_warehouses(session, user.who.account_id)],
        },
        user=user,
    )


@router.get("/{number}", response_class=HTMLResponse, include_in_schema=False)
def one(request: Request, number: str, user: StockPage, session: SessionDep) -> Response:
    t = transfers.get(session, user.who.account_id, number)
    reversals = transfer_moves.reversals_of(session, t)
    taken_back = {v.shipment: v for v in reversals if v.kind == "shipment"}
    return render(
        request,
        "transfer.html",
        {
            "t": transfer_out(session, t),
            "receipts": transfer_moves.receipts_of(session, t),
            "reversals": reversals,
            "rest_left": any(ln.shipped < ln.qty for ln in transfers.lines_of(session, t)),
            "shipments": [
                {
                    "row": row,
                    "shipped": [ln for ln in row.lines if ln["qty"]],
                    "short": [ln for ln in row.lines if ln.get("short")],
                    "reversal": taken_back.get(row.shipment) if row.shipment else None,
                }
                for row in transfer_ship.shipments_of(session, t)
            ],
        },
        user=user,
    )


def _reason(value: object) -> str:
    text = str(value or "").strip()
    if not text or len(text) > 300:
        raise PageError(422, N_("give a reason of 1 to 300 characters"))
    return text


@router.post("/{number}/receipts/{receipt_id}/cancel", include_in_schema=False)
async def cancel_receipt(
    request: Request, number: str, receipt_id: str, user: StockWriteAction, session: SessionDep
) -> Response:
    """取消入库 of one receipt."""
    form = await request.form()
    transfer_moves.cancel_receipt(
        session,
        user.who.account_id,
        number,
        receipt_id,
        _reason(form.get("reason")),
        user.who.actor,
        datetime.now(UTC),
    )
    return RedirectResponse(f"{PREFIX}/stock/transfers/{number}?done=1", status_code=303)


@router.post("/{number}/pick-node", include_in_schema=False)
async def move_pick(
    request: Request, number: str, user: StockWriteAction, session: SessionDep
) -> Response:
    """Move the transfer's pick to another pick node of the sending warehouse."""
    form = await request.form()
    node = str(form.get("node") or "").strip()
    if not node or len(node) > 64:
        raise PageError(422, N_("give the node that picks it (1 to 64 characters)"))
    transfer_pick.move_pick(
        session, user.who.account_id, number, node, user.who.actor, datetime.now(UTC)
    )
    return RedirectResponse(f"{PREFIX}/stock/transfers/{number}?done=1", status_code=303)


@router.post("/{number}/{step}", include_in_schema=False)
async def act(
    request: Request, number: str, step: str, user: StockWriteAction, session: SessionDep
) -> Response:
    if step not in STEPS:
        raise PageError(404, N_("no transfer step %(step)r"), None, step=step)
    form = await request.form()
    reason = _reason(form.get("reason")) if STEPS[step] else ""
    acct, actor, now = user.who.account_id, user.who.actor, datetime.now(UTC)
    if step == "audit":
        transfers.audit_transfer(session, acct, number, actor, now)
    elif step == "ship":
        transfers.ship(session, acct, number, actor, now)
    elif step == "ship-rest":
        transfer_pick.ship_rest(session, acct, number, actor, now)
    elif step == "ship-rest-hub":
        transfer_pick.ship_rest_from_hub(session, acct, number, actor, now)
    elif step == "cancel-rest":
        transfer_pick.cancel_rest(session, acct, number, reason, actor, now)
    elif step == "cancel":
        transfers.cancel(session, acct, number, reason, actor, now)
    else:
        transfer_moves.cancel_shipment(session, acct, number, reason, actor, now)
    return RedirectResponse(f"{PREFIX}/stock/transfers/{number}?done=1", status_code=303)
