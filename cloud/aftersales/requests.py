"""After-sales requests (售后单): created by hand or from a channel's refund, audited
(approved or rejected with a reason), received at the returns table, closed.

States (docs/inbound.md "Returns and exchanges")::

    requested ─approve─▶ approved ─receive─▶ received ─close─▶ closed
        │                   │
        └──reject──▶ rejected ◀──reject (nothing received yet)
    refund_only: requested ─approve─▶ closed (the refund instruction is written at once)

A request's lines point at the shipped order's lines; all requests of a line that are not
rejected together never ask back more than the line shipped. The refund due per line is
the order's price of those units, the order's discount shared out in proportion and
rounded half-up to the fen (the marketplace refunds what the buyer paid, not the list
price). Every change is one row of the request's history (who, when, why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.aftersales import (
    AftersalesLine,
    AftersalesLog,
    AftersalesRefund,
    AftersalesRequest,
    AftersalesSetting,
)
from cloud.db.models import SalesOrder, SalesOrderLine, Warehouse
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.orders import core as orders
from cloud.orders.reasons import Said, written
from cloud.stock.ledger import require_skus, warehouse_of

KINDS: Final = ("return", "exchange", "refund_only")
STATUSES: Final = ("requested", "approved", "rejected", "received", "closed")
#: States whose lines count against what the order shipped (a rejected request asks nothing).
LIVE: Final = ("requested", "approved", "received", "closed")
FEN: Final = Decimal("0.01")


@dataclass(frozen=True)
class LineIn:
    order_line_id: str
    qty: int
    exchange_sku_code: str | None = None


def get(session: Session, account_id: int, number: str, *, lock: bool = False) -> AftersalesRequest:
    q = select(AftersalesRequest).where(
        AftersalesRequest.account_id == account_id, AftersalesRequest.number == number
    )
    if lock:
        q = q.with_for_update()
    req = session.execute(q).scalar_one_or_none()
    if req is None:
        raise NotFoundError(N_("no after-sales request %(number)r"), number=number)
    return req


def lines_of(session: Session, req: AftersalesRequest) -> list[AftersalesLine]:
    return list(
        session.execute(
            select(AftersalesLine)
            .where(AftersalesLine.request_id == req.id)
            .order_by(AftersalesLine.line_no)
        ).scalars()
    )


def history(session: Session, req: AftersalesRequest) -> list[AftersalesLog]:
    return list(
        session.execute(
            select(AftersalesLog)
            .where(AftersalesLog.request_id == req.id)
            .order_by(AftersalesLog.id)
        ).scalars()
    )


def refunds_of(session: Session, req: AftersalesRequest) -> list[AftersalesRefund]:
    return list(
        session.execute(
            select(AftersalesRefund)
            .where(AftersalesRefund.request_id == req.id)
            .order_by(AftersalesRefund.line_no)
        ).scalars()
    )


def list_requests(
    session: Session,
    account_id: int,
    *,
    status: str | None = None,
    order_no: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AftersalesRequest]:
    q = select(AftersalesRequest).where(AftersalesRequest.account_id == account_id)
    if status:
        q = q.where(AftersalesRequest.status == status)
    if order_no:
        q = q.where(AftersalesRequest.order_no == order_no)
    if kind:
        q = q.where(AftersalesRequest.kind == kind)
    q = q.order_by(AftersalesRequest.created_at.desc(), AftersalesRequest.id.desc())
    return list(session.execute(q.limit(limit).offset(offset)).scalars())


def log(
    session: Session,
    req: AftersalesRequest,
    action: str,
    to: str,
    actor: str,
    now: datetime,
    reason: str | Said | None = None,
) -> None:
    """A line in the request's history: a sentence the hub says, or a person's words as
    typed (as an order's: cloud/orders/reasons.py ``written``)."""
    session.add(
        AftersalesLog(
            account_id=req.account_id,
            request_id=req.id,
            action=action,
            from_status=None if action == "create" else req.status,
            to_status=to,
            actor=actor,
            at=now,
            **written(reason, 300),
        )
    )
    req.status, req.changed_by, req.changed_at = to, actor, now


def setting(session: Session, account_id: int) -> AftersalesSetting | None:
    return session.get(AftersalesSetting, account_id)


def configure(
    session: Session,
    account_id: int,
    damaged_warehouse: str | None,
    exchange_at: str,
    actor: str,
    now: datetime,
) -> AftersalesSetting:
    """Where damaged returns go (售后坏品仓) and when an exchange ships."""
    if exchange_at not in ("received", "approval"):
        raise InvalidError(
            N_("exchange_at is 'received' or 'approval', not %(value)r"),
            "exchange_at",
            value=exchange_at,
        )
    wh_id = warehouse_of(session, account_id, damaged_warehouse).id if damaged_warehouse else None
    row = session.get(AftersalesSetting, account_id)
    if row is None:
        row = AftersalesSetting(account_id=account_id, changed_by=actor, changed_at=now)
        session.add(row)
    row.damaged_warehouse_id, row.exchange_at = wh_id, exchange_at
    row.changed_by, row.changed_at = actor, now
    session.flush()
    return row


def _amounts(o: SalesOrder, lines: list[SalesOrderLine]) -> dict[str, Decimal]:
    """The paid price of one unit of each line, in yuan (exact; rounded per request line)."""
    gross = sum(ln.price_cents * ln.qty for ln in lines)
    share = Decimal(o.total_cents) / Decimal(gross) if 0 < o.total_cents < gross else Decimal(1)
    return {ln.line_id: Decimal(ln.price_cents) * share / 100 for ln in lines}


def amount_of(unit: Decimal, qty: int) -> Decimal:
    return (unit * qty).quantize(FEN, rounding=ROUND_HALF_UP)


def asked_before(
    session: Session, account_id: int, order_id: str, but: int | None = None
) -> dict[str, tuple[int, list[str]]]:
    """Per order line: units asked back by live requests, and their numbers."""
    q = (
        select(AftersalesLine.order_line_id, AftersalesLine.qty, AftersalesRequest.number)
        .join(AftersalesRequest, AftersalesRequest.id == AftersalesLine.request_id)
        .where(
            AftersalesLine.account_id == account_id,
            AftersalesLine.order_id == order_id,
            AftersalesRequest.status.in_(LIVE),
        )
    )
    if but is not None:
        q = q.where(AftersalesRequest.id != but)
    out: dict[str, tuple[int, list[str]]] = {}
    for lid, qty, number in session.execute(q).all():
        n, nos = out.get(lid, (0, []))
        out[lid] = (n + qty, [*nos, number])
    return out


def create(
    session: Session,
    account_id: int,
    order_no: str,
    kind: str,
    lines: list[LineIn],
    actor: str,
    now: datetime,
    *,
    number: str | None = None,
    reason: str | None = None,
    return_waybill: str | None = None,
    source: str = "manual",
    source_key: str | None = None,
) -> tuple[AftersalesRequest, bool]:
    """A new request; with a ``source_key`` seen before, that request (``False``: not new)."""
    if source_key is not None:
        had = session.execute(
            select(AftersalesRequest).where(
                AftersalesRequest.account_id == account_id,
                AftersalesRequest.source_key == source_key,
            )
        ).scalar_one_or_none()
        if had is not None:
            return had, False
    if kind not in KINDS:
        raise InvalidError(
            N_("kind is return, exchange or refund_only, not %(kind)r"), "kind", kind=kind
        )
    if not lines:
        raise InvalidError(N_("an after-sales request needs at least one line"), "lines")
    ids = [ln.order_line_id for ln in lines]
    if len(set(ids)) != len(ids):
        raise InvalidError(N_("each order line appears at most once in a request"), "lines")
    # Lock the order: two requests for its last unit are taken one after the other.
    o = orders.get(session, account_id, order_no, lock=True)
    if o.status != "shipped":
        raise ConflictError(
            N_(
                "order %(order)s is %(status)s, not shipped; nothing of it can come back (an "
                "unshipped order is cancelled or its lines refunded before shipping instead)"
            ),
            order=order_no,
            status=o.status,
        )
    if number is not None:
        taken = session.execute(
            select(AftersalesRequest.id).where(
                AftersalesRequest.account_id == account_id, AftersalesRequest.number == number
            )
        ).first()
        if taken:
            raise ConflictError(N_("after-sales request %(number)s exists already"), number=number)
    order_lines = orders.lines_of(session, [o.id])[o.id]
    by_id = {ln.line_id: ln for ln in order_lines}
    before = asked_before(session, account_id, o.id)
    swaps = [ln.exchange_sku_code for ln in lines if ln.exchange_sku_code]
    if swaps and kind != "exchange":
        raise InvalidError(
            N_("exchange_sku_code is for an exchange only, not a %(kind)s"), "lines", kind=kind
        )
    if swaps:
        require_skus(session, account_id, swaps)
    for ln in lines:
        if ln.qty < 1:
            raise InvalidError(
                N_("quantity of line %(line)s must be at least 1"), "lines", line=ln.order_line_id
            )
        ol = by_id.get(ln.order_line_id)
        if ol is None:
            raise InvalidError(
                N_("order %(order)s has no line %(line)r (its lines: %(lines)s)"),
                "lines",
                order=order_no,
                line=ln.order_line_id,
                lines=", ".join(sorted(by_id)),
            )
        asked, nos = before.get(ln.order_line_id, (0, []))
        if ln.qty > ol.qty - asked:
            raise ConflictError(
                N_(
                    "line %(line)s of order %(order)s (%(sku)s) shipped %(shipped)s; "
                    "%(asked)s already asked back (%(requests)s), so at most %(most)s more, "
                    "this request asks %(qty)s"
                ),
                line=ln.order_line_id,
                order=order_no,
                sku=ol.sku_code,
                shipped=ol.qty,
                asked=asked,
                requests=", ".join(nos) or "none",
                most=max(ol.qty - asked, 0),
                qty=ln.qty,
            )
    if number is None:
        count = session.execute(
            select(func.count())
            .select_from(AftersalesRequest)
            .where(AftersalesRequest.account_id == account_id, AftersalesRequest.order_id == o.id)
        ).scalar_one()
        number = f"AS-{order_no}-{count + 1}"[:64]
    unit = _amounts(o, order_lines)
    req = AftersalesRequest(
        account_id=account_id,
        number=number,
        kind=kind,
        source=source,
        source_key=source_key,
        order_id=o.id,
        order_no=o.order_no,
        warehouse_id=o.warehouse_id,
        status="requested",
        reason=reason[:300] if reason else None,
        return_waybill=return_waybill,
        created_by=actor,
        created_at=now,
        changed_by=actor,
        changed_at=now,
    )
    session.add(req)
    session.flush()
    for n, ln in enumerate(lines, start=1):
        ol = by_id[ln.order_line_id]
        session.add(
            AftersalesLine(
                request_id=req.id,
                line_no=n,
                account_id=account_id,
                order_id=o.id,
                order_line_id=ol.line_id,
                sku_code=ol.sku_code,
                qty=ln.qty,
                exchange_sku_code=ln.exchange_sku_code,
                amount=amount_of(unit[ol.line_id], ln.qty),
                sellable=0,
                damaged=0,
                missing=0,
            )
        )
    log(session, req, "create", "requested", actor, now, reason)
    session.flush()
    return req, True


def warehouse_code(session: Session, req: AftersalesRequest) -> str:
    return session.get_one(Warehouse, req.warehouse_id).code
