"""The poster: business facts the hub already writes, into the books, each exactly once.

Issue 18, docs/finance.md "The poster". Finance sits above orders, inbound and stock
(docs/architecture.md), so those never call it; it reads what they write instead:

* stream ``receipts``: ``purchase_receipt`` rows (cloud/inbound/receipts.py) → one
  SupplierReceipt per QC-passed line, at the PO line's unit price;
* stream ``orders``: ``order_log`` rows (cloud/orders) → ``create`` (an order arrives paid:
  the channels import only paid trades, cloud/channels/ports.py) OrderPaid; ``ship``
  OrderShipped with the goods its ``ship`` movements took; ``reverse_outbound`` (冲销出库)
  the shipment reversed and its goods back at their cost; ``cancel`` RefundBeforeShipping;
* stream ``aftersales``: ``aftersales_log`` rows (cloud/aftersales) → returns received and
  after-sales refunds (cloud/finance/returns.py).

Per seller and stream a ``fin_cursor`` row keeps the id of the last fact posted. A batch is
one transaction: the cursor row is locked (PostgreSQL ``FOR UPDATE SKIP LOCKED``: a second
poster, in this process or another hub's, skips the stream instead of waiting; SQLite
serialises writers with BEGIN IMMEDIATE), the facts after it are posted through
``events.record`` (natural key: a fact delivered again posts nothing) and the cursor moves,
all committed together. A crash before the commit loses the entries and the move alike; the
next tick posts the same facts again.

Ids are handed out at INSERT but become visible at COMMIT, so on PostgreSQL a fact with a
smaller id can appear after a larger one was read. The poster reads only facts older than
``lag`` (a setting, default 10 s: longer than any transaction that writes them), so the
cursor never passes a fact still in flight.

A fact the books refuse (a shipment of goods never received at a known cost, a closed
period) stops its stream at that fact: the cursor stays before it with the sentence in
``fin_cursor.error`` and the next tick tries again (receipts are posted first in each tick,
so a late receipt unblocks the orders behind it). Nothing is skipped silently.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import dialect_of, transaction
from cloud.db.finance import FinCursor
from cloud.db.models import (
    Account,
    OrderLog,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    SalesOrder,
    StockMovement,
    Supplier,
)
from cloud.errors import DomainError
from cloud.finance import events, order_money, returns
from cloud.finance.chart import seed_chart
from cloud.finance.postings import (
    Line,
    OrderPaid,
    OrderShipped,
    RefundBeforeShipping,
    SupplierReceipt,
)
from cloud.finance.upsert import insert_for
from cloud.orders.audit_rules import CHINA
from cloud.orders.core import doc
from cloud.periodic import Periodic

log = logging.getLogger(__name__)

#: Receipts first: a shipment is costed from the goods received before it; returns last:
#: goods come back at the cost their shipment booked.
STREAMS = ("receipts", "orders", "aftersales")
ORDER_ACTIONS = ("create", "ship", "reverse_outbound", "cancel")
#: Facts posted per transaction (a long batch holds the cursor lock longer).
BATCH = 200

#: One fact: its id in its stream, and what posting it does in the caller's transaction.
Fact = tuple[int, Callable[[Session], None]]


@dataclass
class Tick:
    posted: int = 0
    #: (seller, stream) → why it stopped, for the streams that did.
    stopped: dict[tuple[int, str], str] = field(default_factory=dict)


def tick(factory: sessionmaker[Session], now: datetime, lag: timedelta = timedelta(0)) -> Tick:
    """Post every seller's facts older than ``now - lag`` that are not in the books yet."""
    with transaction(factory) as s:
        sellers = list(s.execute(select(Account.id).order_by(Account.id)).scalars())
        _open_cursors(s, sellers, now)
    out = Tick()
    for seller in sellers:
        for stream in STREAMS:
            while True:
                n, error = post_batch(factory, seller, stream, now, lag)
                out.posted += n
                if error is not None:
                    out.stopped[(seller, stream)] = error
                if n < BATCH or error is not None:
                    break
    return out


def post_batch(
    factory: sessionmaker[Session],
    account_id: int,
    stream: str,
    now: datetime,
    lag: timedelta = timedelta(0),
    *,
    before_commit: Callable[[Session], None] | None = None,
) -> tuple[int, str | None]:
    """Post up to BATCH facts of one stream after its cursor, in one transaction.

    Returns how many were posted and why the stream stopped (None: it did not).
    ``before_commit`` runs after the postings, before the commit (tests crash there)."""
    with transaction(factory) as s:
        cursor = s.execute(
            select(FinCursor)
            .where(FinCursor.account_id == account_id, FinCursor.stream == stream)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if cursor is None:  # another poster holds it (or no cursor yet: next tick opens it)
            return 0, None
        reader = {"receipts": _receipts, "orders": _orders, "aftersales": _aftersales}[stream]
        posted, error = 0, None
        for fact_id, post in reader(s, account_id, cursor.position, now - lag):
            try:
                post(s)
            except DomainError as e:
                # Raised before anything of this fact is written (events.record checks first).
                error = f"{stream} #{fact_id}: {e}"[:300]
                break
            cursor.position, posted = fact_id, posted + 1
            if posted == BATCH:
                break
        if error is not None and error != cursor.error:
            log.warning("finance: seller %s stopped at %s", account_id, error)
        if posted or cursor.error != error:
            cursor.posted += posted
            cursor.error, cursor.changed_at = error, now
        if before_commit is not None:
            before_commit(s)
    return posted, error


def _open_cursors(s: Session, sellers: list[int], now: datetime) -> None:
    if not sellers:
        return
    for seller in sellers:
        seed_chart(s, seller)
    rows = [
        {"account_id": a, "stream": st, "position": 0, "posted": 0, "changed_at": now}
        for a in sellers
        for st in STREAMS
    ]
    s.execute(insert_for(dialect_of(s), FinCursor.__table__).on_conflict_do_nothing(), rows)


# --- the streams -------------------------------------------------------------------------


def _receipts(s: Session, account_id: int, after: int, horizon: datetime) -> Iterator[Fact]:
    rows = s.execute(
        select(PurchaseReceipt, Supplier.code)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseReceipt.po_id)
        .outerjoin(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .where(PurchaseReceipt.account_id == account_id, PurchaseReceipt.id > after)
        .order_by(PurchaseReceipt.id)
        .limit(BATCH)
    ).all()
    for r, supplier in rows:
        if r.created_at > horizon:
            return
        yield r.id, _receipt_poster(r, supplier or "none")


def _receipt_poster(r: PurchaseReceipt, supplier: str) -> Callable[[Session], None]:
    def post(s: Session) -> None:
        prices: dict[str, Decimal] = {
            sku: price
            for sku, price in s.execute(
                select(PurchaseOrderLine.sku_code, PurchaseOrderLine.unit_price).where(
                    PurchaseOrderLine.po_id == r.po_id
                )
            )
        }
        # QC-failed units wait for the supplier's claim or return (not built): only the
        # units that passed are stock at a cost the seller owes.
        for n, line in enumerate(r.lines):
            if line.get("verdict", "pass") != "pass":
                continue
            sku = str(line["sku_code"])
            event = SupplierReceipt(
                receipt_no=f"receipt:{r.id}:{n}",
                supplier=supplier,
                sku=sku,
                quantity=Decimal(int(line["qty"])),
                unit_cost=Decimal(prices[sku]),
                on=day_of(r.created_at),
            )
            events.record(s, r.account_id, event, r.created_at)

    return post


def _aftersales(s: Session, account_id: int, after: int, horizon: datetime) -> Iterator[Fact]:
    return returns.facts(s, account_id, after, horizon, BATCH)


def log_seller(s: Session) -> ColumnElement[int]:
    """The seller of an order log entry (its order's account), for a read of the log from a
    cursor on. SQLite, with or without its statistics, began such a read at the seller's
    orders (any index on account_id will do for it) and then sorted their whole log: 2.6 s
    for every batch of 200 at 100,000 orders (400,000 log entries), so posting a big
    seller's books took most of an hour. The log from the cursor on, in id order, is the
    plan wanted: "+ 0" keeps SQLite off the account's indexes (sqlite.org/optoverview.html
    "Disqualifying WHERE clause terms"); 0.06 s a batch on that file. PostgreSQL plans it
    by its statistics as it did."""
    if dialect_of(s) == "sqlite":
        return SalesOrder.account_id + 0
    return SalesOrder.account_id.expression


def _orders(s: Session, account_id: int, after: int, horizon: datetime) -> Iterator[Fact]:
    rows = s.execute(
        select(OrderLog, SalesOrder)
        .join(SalesOrder, SalesOrder.id == OrderLog.order_id)
        .where(
            log_seller(s) == account_id,
            OrderLog.id > after,
            OrderLog.action.in_(ORDER_ACTIONS),
        )
        .order_by(OrderLog.id)
        .limit(BATCH)
    ).all()
    for entry, order in rows:
        if entry.at > horizon:
            return
        yield entry.id, _order_poster(entry, order)


def day_of(at: datetime) -> date:
    """The day an entry is dated: the seller's (China time), so a fact at 00:30 on the 1st
    in Beijing is in the new month, not the last day of the old one in UTC."""
    return at.astimezone(CHINA).date()


def _amount(order: SalesOrder) -> Decimal:
    return (Decimal(order.total_cents) / 100).quantize(Decimal("0.01"))


def _order_poster(entry: OrderLog, o: SalesOrder) -> Callable[[Session], None]:
    amount, on = _amount(o), day_of(entry.at)

    def post(s: Session) -> None:
        if amount <= 0:
            return  # a free order: no money moved (its goods' cost: docs, not built)
        if entry.action == "create":
            events.record(s, o.account_id, OrderPaid(o.order_no, o.channel, amount, on), entry.at)
            return
        # What the buyer's prepayment refunds gave back before shipping is not sold nor
        # refunded again (order_money.refund_prepayment).
        rest = amount - order_money.prepayment_refunded(s, o.account_id, o.order_no)
        if entry.action == "cancel" and entry.from_status != "shipped":
            if rest > 0:
                refund = RefundBeforeShipping(o.order_no, o.channel, rest, on)
                events.record(s, o.account_id, refund, entry.at)
        elif entry.action == "ship":
            source = _shipment_doc(s, o, entry.id)
            lines = _shipped_lines(s, o, entry.at)
            shipped = OrderShipped(source, o.channel, rest, lines, on)
            events.record(s, o.account_id, shipped, entry.at)
        elif entry.action == "reverse_outbound":
            ship_log = s.execute(
                select(OrderLog)
                .where(OrderLog.order_id == o.id, OrderLog.action == "ship", OrderLog.id < entry.id)
                .order_by(OrderLog.id.desc())
                .limit(1)
            ).scalar_one()
            source = _shipment_doc(s, o, ship_log.id)
            lines = _shipped_lines(s, o, ship_log.at)
            events.unship(s, o.account_id, source, lines, on, entry.at)

    return post


def _shipment_doc(s: Session, o: SalesOrder, ship_log_id: int) -> str:
    """The source document of a shipment's entry: the order number for its first shipment,
    ``<order>#<log id>`` for a shipment after a 冲销出库 (each its own natural key)."""
    earlier = s.execute(
        select(OrderLog.id)
        .where(OrderLog.order_id == o.id, OrderLog.action == "ship", OrderLog.id < ship_log_id)
        .limit(1)
    ).first()
    return o.order_no if earlier is None else f"{o.order_no}#{ship_log_id}"


def _shipped_lines(s: Session, o: SalesOrder, at: datetime) -> tuple[Line, ...]:
    """What left the stock with the shipment logged at ``at``: its ``ship`` movements (the
    components of a kit, as the stock ledger has them), written with the same clock."""
    qty: dict[str, int] = defaultdict(int)
    for sku, delta in s.execute(
        select(StockMovement.sku_code, StockMovement.qty_delta).where(
            StockMovement.account_id == o.account_id,
            StockMovement.document == doc(o.order_no),
            StockMovement.kind == "ship",
            StockMovement.created_at == at,
        )
    ):
        qty[sku] -= delta
    return tuple(Line(sku, Decimal(q)) for sku, q in sorted(qty.items()) if q > 0)


# --- the background worker ----------------------------------------------------------------


class Worker(Periodic):
    """A thread of the hub that ticks the poster every ``poll`` (cloud/app.py)."""

    name = "finance-poster"
    failed = "finance: a poster tick failed; trying again"

    def __init__(self, factory: sessionmaker[Session], poll: timedelta, lag: timedelta) -> None:
        super().__init__(poll, log)
        self.factory, self.lag = factory, lag

    def step(self, now: datetime) -> None:
        tick(self.factory, now, self.lag)
