"""The audit and the receipt of after-sales requests: approve, reject, receive, close.

* **approve** (审核通过): a return or exchange is released to the nodes of the warehouse
  its goods come back to (``return.release``); a refund-only request writes its refund
  instructions and closes; an exchange ships at approval if the account says so.
* **reject** (驳回) with a reason, while nothing was received; the nodes drop it.
* **receive** (售后收货) from the returns station's ``return.received`` fact or the API,
  booked once per receipt id: per line the QC's sellable units go back to the warehouse's
  sellable bucket, damaged ones to the damaged bucket (of the account's damaged warehouse,
  售后坏品仓, when one is configured), missing ones nowhere (a task asks a person). Each
  movement has an ``event_key`` (``as:ACCOUNT:RECEIPT:LINE:bucket``), unique in the
  ledger. A return writes its refund instructions for the units that came back; an
  exchange creates its new order through the orders write path (cloud/orders/arrival.py).
* **close** (结案) once received.

The same receipt id again with the same lines answers what was booked and books nothing;
other lines under it, or a second receipt of a received request, is a 409 (docs/inbound.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.aftersales import release, routes
from cloud.aftersales.requests import amount_of, get, lines_of, log, setting, warehouse_code
from cloud.db.aftersales import AftersalesLine, AftersalesRefund, AftersalesRequest
from cloud.db.models import SalesOrder, Warehouse
from cloud.errors import N_, ConflictError, InvalidError, sentence
from cloud.orders import arrival
from cloud.orders.core import CHANNELS, LineIn, OrderIn
from cloud.orders.reasons import commas
from cloud.stock import ledger

MISSING_TASK = "return_missing"


@dataclass(frozen=True)
class ReturnLine:
    line_no: int
    sku_code: str
    sellable: int = 0
    damaged: int = 0
    missing: int = 0
    reason: str | None = None


def _state(req: AftersalesRequest, allowed: tuple[str, ...], action: str) -> None:
    if req.status not in allowed:
        raise ConflictError(
            N_("after-sales request %(number)s is %(status)s; it cannot be %(action)s"),
            number=req.number,
            status=req.status,
            action=action,
        )


def approve(
    session: Session, account_id: int, number: str, actor: str, now: datetime, note: str | None
) -> AftersalesRequest:
    req = get(session, account_id, number, lock=True)
    _state(req, ("requested",), "approved")
    log(session, req, "approve", "approved", actor, now, note)
    if req.kind == "refund_only":
        _refunds(session, req, {ln.line_no: ln.qty for ln in lines_of(session, req)}, now)
        nothing = tasks.sentence(N_("refund only: nothing comes back"))
        log(session, req, "close", "closed", actor, now, nothing)
        return req
    conf = setting(session, account_id)
    if req.kind == "exchange" and conf is not None and conf.exchange_at == "approval":
        _exchange(session, req, actor, now)
    release.push(session, req, now)
    return req


def reject(
    session: Session, account_id: int, number: str, reason: str, actor: str, now: datetime
) -> AftersalesRequest:
    if not reason.strip():
        raise InvalidError(N_("a rejection needs a reason the buyer can be told"), "reason")
    req = get(session, account_id, number, lock=True)
    _state(req, ("requested", "approved"), "rejected")
    if req.exchange_order_no:
        raise ConflictError(
            N_(
                "after-sales request %(number)s has sent exchange order %(order)s already; "
                "cancel that order first"
            ),
            number=number,
            order=req.exchange_order_no,
        )
    was = req.status
    log(session, req, "reject", "rejected", actor, now, reason)
    if was == "approved":
        release.push(session, req, now)  # the nodes stop expecting it
    return req


def close(
    session: Session, account_id: int, number: str, actor: str, now: datetime, note: str | None
) -> AftersalesRequest:
    req = get(session, account_id, number, lock=True)
    if req.status in ("requested", "approved"):
        raise ConflictError(
            N_(
                "after-sales request %(number)s is %(status)s; it is closed once its goods are "
                "received (reject it if they will not come)"
            ),
            number=number,
            status=req.status,
        )
    _state(req, ("received",), "closed")
    log(session, req, "close", "closed", actor, now, note)
    release.push(session, req, now)
    return req


def _normal(lines: list[ReturnLine]) -> list[dict[str, Any]]:
    return [asdict(ln) for ln in sorted(lines, key=lambda ln: ln.line_no)]


def receive(
    session: Session,
    account_id: int,
    number: str,
    receipt_id: str,
    warehouse: str,
    lines: list[ReturnLine],
    actor: str,
    now: datetime,
    *,
    return_waybill: str | None = None,
) -> tuple[AftersalesRequest, bool]:
    """Book the goods received against the request; return it and whether it is new."""
    req = get(session, account_id, number, lock=True)
    if req.receipt_id is not None:
        if req.receipt_id == receipt_id and req.receipt == _normal(lines):
            return req, False
        raise ConflictError(
            N_(
                "after-sales request %(number)s was received already (receipt %(first)s); "
                "receipt %(receipt_id)s with other lines is not booked"
            ),
            number=number,
            first=req.receipt_id,
            receipt_id=receipt_id,
        )
    other = session.execute(
        select(AftersalesRequest.number).where(
            AftersalesRequest.account_id == account_id,
            AftersalesRequest.receipt_id == receipt_id,
        )
    ).scalar_one_or_none()
    if other is not None:
        raise ConflictError(
            N_("receipt %(receipt_id)s was booked for after-sales request %(other)s already"),
            receipt_id=receipt_id,
            other=other,
        )
    if req.kind == "refund_only":
        raise ConflictError(
            N_("after-sales request %(number)s is a refund only; no goods come back for it"),
            number=number,
        )
    if req.status == "requested":
        raise ConflictError(
            N_("after-sales request %(number)s is not approved yet; approve it before receiving"),
            number=number,
        )
    _state(req, ("approved",), "received")
    home = warehouse_code(session, req)
    if warehouse != home:
        raise ConflictError(
            N_("after-sales request %(number)s comes back to warehouse %(home)s, not %(code)s"),
            number=number,
            home=home,
            code=warehouse,
        )
    if not lines:
        raise InvalidError(N_("a return receipt needs at least one line"), "lines")
    mine = {ln.line_no: ln for ln in lines_of(session, req)}
    seen: set[int] = set()
    for ln in lines:
        line = mine.get(ln.line_no)
        if line is None:
            raise InvalidError(
                N_("after-sales request %(number)s has no line %(line)s"),
                "lines",
                number=number,
                line=ln.line_no,
            )
        if ln.line_no in seen:
            raise InvalidError(N_("line %(line)s appears twice"), "lines", line=ln.line_no)
        seen.add(ln.line_no)
        if ln.sku_code != line.sku_code:
            raise ConflictError(
                N_("line %(line)s of %(number)s is %(sku)s, not %(scanned)s"),
                line=ln.line_no,
                number=number,
                sku=line.sku_code,
                scanned=ln.sku_code,
            )
        if min(ln.sellable, ln.damaged, ln.missing) < 0:
            raise InvalidError(N_("quantities are never negative"), "lines")
        if ln.sellable + ln.damaged + ln.missing != line.qty:
            raise InvalidError(
                N_(
                    "line %(line)s asks back %(qty)s unit(s); the QC accounts for %(total)s "
                    "(sellable %(sellable)s, damaged %(damaged)s, missing %(missing)s)"
                ),
                "lines",
                line=ln.line_no,
                qty=line.qty,
                total=ln.sellable + ln.damaged + ln.missing,
                sellable=ln.sellable,
                damaged=ln.damaged,
                missing=ln.missing,
            )
        if ln.damaged and not (ln.reason or "").strip():
            raise InvalidError(
                N_("damaged units of line %(line)s need a reason"), "lines", line=ln.line_no
            )
    # A line not in the receipt did not come back at all.
    qc = {ln.line_no: ln for ln in lines}
    for no, line in mine.items():
        if no not in qc:
            qc[no] = ReturnLine(no, line.sku_code, missing=line.qty)
    # The damaged units' warehouse: the receiving warehouse's route, the account's setting,
    # or its own damaged bucket (cloud/aftersales/routes.py).
    bad = routes.destination(session, account_id, req.warehouse_id)
    # The damaged units' reason names the warehouse that took them in when they were booked
    # elsewhere (cloud/aftersales/routes.py).
    at = None if bad.via == "bucket" else warehouse_code(session, req)
    moves: list[ledger.Move] = []
    for no in sorted(qc):
        ln = qc[no]
        key = f"as:{account_id}:{receipt_id}:{no}"
        if ln.sellable:
            moves.append(
                ledger.Move(
                    req.warehouse_id,
                    ln.sku_code,
                    "return",
                    sentence(N_("return %(number)s"), number=number),
                    f"as:{number}",
                    actor,
                    qty_delta=ln.sellable,
                    bucket="sellable",
                    event_key=f"{key}:s",
                )
            )
        if ln.damaged:
            moves.append(
                ledger.Move(
                    bad.warehouse_id,
                    ln.sku_code,
                    "return",
                    sentence(
                        N_("return %(number)s damaged: %(reason)s"),
                        number=number,
                        reason=(ln.reason or "")[:300],
                    )
                    if at is None
                    else sentence(
                        N_("return %(number)s damaged, received at %(warehouse)s: %(reason)s"),
                        number=number,
                        warehouse=at,
                        reason=(ln.reason or "")[:300],
                    ),
                    f"as:{number}",
                    actor,
                    qty_delta=ln.damaged,
                    bucket="damaged",
                    event_key=f"{key}:d",
                )
            )
    ids = ledger.post(session, account_id, moves, now)
    for no, line in mine.items():
        ln = qc[no]
        line.sellable, line.damaged, line.missing = ln.sellable, ln.damaged, ln.missing
        line.damage_reason = ln.reason[:300] if ln.damaged and ln.reason else None
    req.receipt_id, req.receipt, req.movement_ids = receipt_id, _normal(lines), ids
    if return_waybill and not req.return_waybill:
        req.return_waybill = return_waybill
    missing = {no: qc[no].missing for no in sorted(qc) if qc[no].missing}
    log(
        session,
        req,
        "receive",
        "received",
        actor,
        now,
        tasks.sentence(
            N_("receipt %(receipt)s: %(lines)s"),
            receipt=receipt_id,
            lines=commas(
                [
                    tasks.sentence(
                        N_(
                            "line %(line)s: sellable %(sellable)s, damaged %(damaged)s,"
                            " missing %(missing)s"
                        ),
                        line=no,
                        sellable=qc[no].sellable,
                        damaged=qc[no].damaged,
                        missing=qc[no].missing,
                    )
                    for no in sorted(qc)
                ]
            ),
        ),
    )
    if req.kind == "return":
        _refunds(session, req, {no: qc[no].sellable + qc[no].damaged for no in sorted(qc)}, now)
    elif req.exchange_order_no is None:
        # What came back is exchanged; units missing wait for the person the task asks.
        came = {no: qc[no].sellable + qc[no].damaged for no in sorted(qc)}
        if any(came.values()):
            _exchange(session, req, actor, now, came)
    if missing:
        tasks.open_task(
            session,
            account_id,
            MISSING_TASK,
            N_(
                "after-sales request %(request)s (order %(order)s) came back short: %(lines)s."
                " Nothing is refunded or booked for them; ask the buyer or the carrier."
            ),
            now,
            params={
                "request": number,
                "order": req.order_no,
                "lines": [
                    tasks.sentence(N_("line %(line)s: %(n)s missing"), line=no, n=n)
                    for no, n in missing.items()
                ],
            },
            order_no=req.order_no,
        )
    release.push(session, req, now)
    return req, True


def _refunds(
    session: Session, req: AftersalesRequest, units: dict[int, int], now: datetime
) -> None:
    """Refund instructions for finance: per line, the units refunded at the line's paid
    price (the request line's amount is for all its units; a part is pro rata, half-up)."""
    for line in lines_of(session, req):
        n = units.get(line.line_no, 0)
        if n <= 0:
            continue
        amount = line.amount if n == line.qty else amount_of(line.amount / line.qty, n)
        session.add(
            AftersalesRefund(
                account_id=req.account_id,
                request_id=req.id,
                line_no=line.line_no,
                order_no=req.order_no,
                sku_code=line.sku_code,
                qty=n,
                amount=amount,
                currency="CNY",
                status="pending",
                created_at=now,
            )
        )
    session.flush()


def _exchange(
    session: Session,
    req: AftersalesRequest,
    actor: str,
    now: datetime,
    units: dict[int, int] | None = None,
) -> None:
    """The exchange's new order (换货单), free of charge, to the same buyer and address, from
    the same warehouse, through the orders write path (stock reserved, rules audit it): at
    approval every unit asked back, at receipt the units that came back (``units``)."""
    o = session.get_one(SalesOrder, req.order_id)
    want = {
        ln.line_no: ln.qty if units is None else units.get(ln.line_no, 0)
        for ln in lines_of(session, req)
    }
    lines: list[AftersalesLine] = [ln for ln in lines_of(session, req) if want[ln.line_no] > 0]
    order_no = f"HH-{req.number}"[:64]
    body = OrderIn(
        order_no=order_no,
        channel=o.channel if o.channel in CHANNELS else "manual",
        buyer_nick=o.buyer_nick,
        recipient=o.recipient,
        lines=[
            LineIn(
                line_id=str(ln.line_no),
                sku_code=ln.exchange_sku_code or ln.sku_code,
                qty=want[ln.line_no],
                price_cents=0,
            )
            for ln in lines
        ],
        seller_note=f"换货 exchange for after-sales request {req.number} (order {o.order_no})",
        warehouse=session.get_one(Warehouse, o.warehouse_id).code,
        total_cents=0,
    )
    arrival.create_orders(session, req.account_id, [body], actor, now)
    req.exchange_order_no = order_no
    session.add(req)
    said = tasks.sentence(N_("exchange order %(order)s"), order=order_no)
    log(session, req, "exchange", req.status, actor, now, said)
