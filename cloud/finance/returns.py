"""Returns and after-sales refunds into the books: the poster's ``aftersales`` stream.

After-sales (cloud/aftersales/) sits below finance and never calls it; the poster
(cloud/finance/poster.py) reads the history it writes (``aftersales_log``), after its cursor:

* ``receive`` of a **return** (退货): the units that came back (sellable and damaged; the
  missing ones are nobody's stock) → :class:`ReturnReceived`, inventory 1405 back at the
  cost the order's shipment took out for them, cost of goods sold 6401 reversed; then the
  request's refund instructions → :class:`ReturnRefund`, revenue 6001 and output VAT
  22210101 reversed against the shop's clearing account 1122.<shop>;
* ``approve`` of a **refund only** (仅退款): its refund instructions → :class:`ReturnRefund`.

Each is keyed ``(<order>#<request>, return_received | refund_shipped)``: a fact delivered
again, or the poster's batch replayed after a crash, posts nothing more. The refund
instructions then move to ``confirmed`` through cloud/aftersales/refunds.py, their one write
path; a settlement row refunding the order moves them to ``paid`` (cloud/finance/settlements.py).

An **exchange** (换货) posts nothing: its goods come back and its new order (0.00) ships
without entries, so neither side moves the moving average (docs/finance.md); likewise the
goods of any order of 0.00 (an exchange order returned in its turn) come back unbooked.

A refund is never booked beyond what the books hold as paid and not refunded for the order
(a refund confirmed by hand first, say): the rest is not booked again, and the instruction is
confirmed against what was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.aftersales import refunds
from cloud.db.aftersales import AftersalesLine, AftersalesLog, AftersalesRefund, AftersalesRequest
from cloud.db.models import SalesOrder
from cloud.db.settlement import SettlementRow
from cloud.finance import events, order_money
from cloud.finance.postings import Line, ReturnReceived, ReturnRefund
from cloud.orders.audit_rules import CHINA

ZERO = Decimal("0.00")
#: The history rows that move money or goods in the books.
ACTIONS = ("receive", "approve")

Fact = tuple[int, Callable[[Session], None]]


def doc_of(req: AftersalesRequest) -> str:
    return f"{req.order_no}#{req.number}"[:64]


def facts(s: Session, account_id: int, after: int, horizon: datetime, limit: int) -> Iterator[Fact]:
    rows = s.execute(
        select(AftersalesLog, AftersalesRequest)
        .join(AftersalesRequest, AftersalesRequest.id == AftersalesLog.request_id)
        .where(
            AftersalesLog.account_id == account_id,
            AftersalesLog.id > after,
            AftersalesLog.action.in_(ACTIONS),
        )
        .order_by(AftersalesLog.id)
        .limit(limit)
    ).all()
    for entry, req in rows:
        if entry.at > horizon:
            return
        yield entry.id, _poster(entry, req)


def unposted(s: Session, account_id: int, after: int, end: datetime) -> int:
    """How many facts of the stream before ``end`` the poster has not read (period close)."""
    return int(
        s.execute(
            select(func.count())
            .select_from(AftersalesLog)
            .where(
                AftersalesLog.account_id == account_id,
                AftersalesLog.id > after,
                AftersalesLog.action.in_(ACTIONS),
                AftersalesLog.at < end,
            )
        ).scalar_one()
    )


def _poster(entry: AftersalesLog, req: AftersalesRequest) -> Callable[[Session], None]:
    on = entry.at.astimezone(CHINA).date()

    def post(s: Session) -> None:
        if entry.action == "receive" and req.kind == "return":
            goods = _came_back(s, req)
            # An order of 0.00 (an exchange's, a free one) shipped without an entry
            # (poster.py): its goods come back without one too.
            free = s.get_one(SalesOrder, req.order_id).total_cents <= 0
            if goods and not free:
                event = ReturnReceived(doc_of(req), req.order_no, goods, on)
                events.record(s, req.account_id, event, entry.at)
            _refund(s, req, on, entry.at)
        elif entry.action == "approve" and req.kind == "refund_only":
            _refund(s, req, on, entry.at)

    return post


def _came_back(s: Session, req: AftersalesRequest) -> tuple[Line, ...]:
    units: dict[str, int] = {}
    for sku, n in s.execute(
        select(AftersalesLine.sku_code, AftersalesLine.sellable + AftersalesLine.damaged).where(
            AftersalesLine.request_id == req.id
        )
    ):
        units[sku] = units.get(sku, 0) + int(n)
    return tuple(Line(sku, Decimal(n)) for sku, n in sorted(units.items()) if n > 0)


def _refund(s: Session, req: AftersalesRequest, on: date, at: datetime) -> None:
    asked = s.execute(
        select(func.coalesce(func.sum(AftersalesRefund.amount), 0)).where(
            AftersalesRefund.request_id == req.id
        )
    ).scalar_one()
    amount = Decimal(asked).quantize(Decimal("0.01"))
    doc = doc_of(req)
    posted: int | None = None
    if amount > 0:
        shop = s.get_one(SalesOrder, req.order_id).channel
        event = ReturnRefund(doc, shop, amount, on)
        done = events.find(s, req.account_id, event)
        if done is None:
            state = order_money.money_of(s, req.account_id, req.order_no)
            left = state.paid - state.refunded
            if left < amount:
                event = ReturnRefund(doc, shop, left, on)
            if left > 0:
                posted = events.record(s, req.account_id, event, at).entry_id
        else:
            posted = done
    refunds.confirm(s, req.id, posted, at)
    pay_from_settlements(s, req.account_id, req.order_no, at)


def pay_from_settlements(s: Session, account_id: int, order_no: str, now: datetime) -> None:
    """The order's confirmed refund instructions paid by the settlement rows that refunded
    it and paid none yet (a row may come before or after the instruction is confirmed)."""
    used = set(
        s.execute(
            select(AftersalesRefund.paid_by).where(
                AftersalesRefund.account_id == account_id,
                AftersalesRefund.order_no == order_no,
                AftersalesRefund.paid_by.is_not(None),
            )
        ).scalars()
    )
    for flow_no, amount in s.execute(
        select(SettlementRow.flow_no, SettlementRow.amount_out)
        .where(
            SettlementRow.account_id == account_id,
            SettlementRow.order_no == order_no,
            SettlementRow.kind == "refund",
            SettlementRow.state == "posted",
        )
        .order_by(SettlementRow.id)
    ).all():
        if flow_no not in used:
            refunds.pay(s, account_id, order_no, Decimal(amount), flow_no, now)
