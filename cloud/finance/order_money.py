"""订单财务: an order's money state, and payments or refunds confirmed by hand
(docs/finance.md "Order money").

The state is read from the books: the entries of the order (its number, a later shipment
``<order>#<log id>``, their reversals) and what they moved on the shop's clearing account
1122.<shop> — paid in, refunded out — and, once settlements exist, what a platform
settlement paid out for it (the :data:`SETTLEMENT_LOOKUPS` hook; none is registered yet, so
``settled`` is None: "no settlement seen").

A confirmation by hand posts the very entry the poster would post from the channel's facts,
under the same natural key — an order paid ``(<order>, order_paid)``, a refund before
shipping ``(<order>, refund_unshipped)``, after shipping ``(<order>, refund_shipped)`` —
so whichever comes first posts and the other finds it: never twice. The confirmation row
(who, when, why) is kept once per order and kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.finance import FinAccount, FinEntry, FinLeg
from cloud.db.models import SalesOrder
from cloud.db.payables import CONFIRMATION_KINDS, FinOrderConfirmation
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance import events, statements
from cloud.finance.chart import seed_chart
from cloud.finance.ledger import Posted
from cloud.finance.money import money
from cloud.finance.postings import (
    OrderPaid,
    OrderShipped,
    PrepaymentRefund,
    RefundAfterShipping,
    RefundBeforeShipping,
)

ZERO = Decimal("0.00")
#: Settlement lookups (order → amount settled, or None when no settlement names it). The
#: settlement reconciliation registers its own; the first that answers wins.
SETTLEMENT_LOOKUPS: list[Callable[[Session, int, str], Decimal | None]] = []
PAID_KINDS = (OrderPaid.kind,)
REFUND_KINDS = (RefundBeforeShipping.kind, RefundAfterShipping.kind)


@dataclass(frozen=True)
class EntryLine:
    entry_id: int
    entry_date: date
    source_doc: str
    event_kind: str
    memo: str


@dataclass(frozen=True)
class OrderMoney:
    order_no: str
    shop: str
    status: str
    total: Decimal
    paid: Decimal
    refunded: Decimal
    shipped: bool
    settled: Decimal | None
    entries: list[EntryLine]
    confirmations: list[FinOrderConfirmation]

    @property
    def state(self) -> str:
        """unpaid, paid, partly_refunded or refunded (the money, not the order's status)."""
        if self.paid == 0:
            return "unpaid"
        if self.refunded == 0:
            return "paid"
        return "refunded" if self.refunded >= self.paid else "partly_refunded"


def _order(session: Session, account_id: int, order_no: str) -> SalesOrder:
    o = session.execute(
        select(SalesOrder).where(
            SalesOrder.account_id == account_id, SalesOrder.order_no == order_no
        )
    ).scalar_one_or_none()
    if o is None:
        raise NotFoundError(N_("no order %(order_no)s"), order_no=order_no)
    return o


def money_of(session: Session, account_id: int, order_no: str) -> OrderMoney:
    o = _order(session, account_id, order_no)
    entries = statements.order_entries(session, account_id, [order_no], date.max)
    clearing: dict[int, Decimal] = {}
    prepaid: dict[int, Decimal] = {}
    if entries:
        for eid, code, amount in session.execute(
            select(FinLeg.entry_id, FinAccount.code, FinLeg.amount)
            .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
            .where(
                FinLeg.account_id == account_id,
                FinLeg.entry_id.in_(list(entries)),
                FinAccount.code.like("1122.%") | (FinAccount.code == "2203"),
            )
        ):
            into = prepaid if code == "2203" else clearing
            into[int(eid)] = into.get(int(eid), ZERO) + Decimal(amount)
    paid = refunded = ZERO
    shipped = 0
    for eid, (_day, _doc, kind, _memo) in entries.items():
        if kind in PAID_KINDS:
            paid += clearing.get(eid, ZERO)
        elif kind == RefundBeforeShipping.kind:
            # What left the buyer's prepayment: through the clearing or, for a prepayment
            # refunded from the bank (refund_prepayment), from there.
            refunded += prepaid.get(eid, ZERO)
        elif kind in REFUND_KINDS:
            refunded -= clearing.get(eid, ZERO)
        elif kind == OrderShipped.kind:
            shipped += 1
        elif kind == "reversal":
            shipped -= 1  # only shipments of an order are reversed (events.unship)
    settled = None
    for lookup in SETTLEMENT_LOOKUPS:
        settled = lookup(session, account_id, order_no)
        if settled is not None:
            break
    confirmations = list(
        session.execute(
            select(FinOrderConfirmation)
            .where(
                FinOrderConfirmation.account_id == account_id,
                FinOrderConfirmation.order_no == order_no,
            )
            .order_by(FinOrderConfirmation.id)
        ).scalars()
    )
    lines = [
        EntryLine(eid, day, doc, kind, memo)
        for eid, (day, doc, kind, memo) in sorted(entries.items(), key=lambda x: (x[1][0], x[0]))
    ]
    return OrderMoney(
        order_no=o.order_no,
        shop=o.channel,
        status=o.status,
        total=(Decimal(o.total_cents) / 100).quantize(Decimal("0.01")),
        paid=paid.quantize(Decimal("0.01")),
        refunded=refunded.quantize(Decimal("0.01")),
        shipped=shipped > 0,
        settled=settled,
        entries=lines,
        confirmations=confirmations,
    )


def confirm(
    session: Session,
    account_id: int,
    order_no: str,
    kind: str,
    reason: str,
    actor: str,
    on: date,
    now: datetime,
    amount: object = None,
) -> FinOrderConfirmation:
    """Confirm by hand that the order's payment arrived (``paid``) or its refund was made
    (``refunded``), with a reason; posts the entry once (409 when it is in the books)."""
    if kind not in CONFIRMATION_KINDS:
        raise InvalidError(
            N_("kind must be one of %(kinds)s"), "kind", kinds=", ".join(CONFIRMATION_KINDS)
        )
    reason = (reason or "").strip()
    if not reason or len(reason) > 300:
        raise InvalidError(N_("say why, in 1 to 300 characters"), "reason")
    value = None if amount is None or amount == "" else money(amount, "amount")
    if value is not None and value <= 0:
        raise InvalidError(
            N_("amount must be more than 0.00 (got %(amount)s)"), "amount", amount=value
        )
    o = _order(session, account_id, order_no)
    # The order row locked: two confirmations of one order are written one after the other.
    session.execute(select(SalesOrder.id).where(SalesOrder.id == o.id).with_for_update())
    done = session.execute(
        select(FinOrderConfirmation).where(
            FinOrderConfirmation.account_id == account_id,
            FinOrderConfirmation.order_no == order_no,
            FinOrderConfirmation.kind == kind,
        )
    ).scalar_one_or_none()
    if done is not None:
        raise ConflictError(
            N_("%(order_no)s: %(kind)s was confirmed already by %(by)s on %(at)s"),
            order_no=order_no,
            kind=kind,
            by=done.created_by,
            at=done.created_at.date(),
        )
    state = money_of(session, account_id, order_no)
    seed_chart(session, account_id)
    event: OrderPaid | RefundBeforeShipping | RefundAfterShipping
    if kind == "paid":
        if state.paid > 0:
            raise ConflictError(
                N_("%(order_no)s: its payment of %(paid)s is in the books already"),
                order_no=order_no,
                paid=state.paid,
            )
        value = value if value is not None else state.total
        event = OrderPaid(order_no, o.channel, value, on)
    else:
        left = state.paid - state.refunded
        if state.paid == 0:
            raise ConflictError(
                N_("%(order_no)s has no payment in the books: confirm the payment first"),
                order_no=order_no,
            )
        if state.refunded > 0:
            raise ConflictError(
                N_("%(order_no)s: a refund of %(refunded)s is in the books already"),
                order_no=order_no,
                refunded=state.refunded,
            )
        value = value if value is not None else left
        if value > left:
            raise ConflictError(
                N_("%(order_no)s: %(amount)s is more than the %(left)s paid"),
                order_no=order_no,
                amount=value,
                left=left,
            )
        if state.shipped:
            event = RefundAfterShipping(order_no, o.channel, value, False, on)
        else:
            event = RefundBeforeShipping(order_no, o.channel, value, on)
    posted = events.record(session, account_id, event, now)
    if not posted.created:  # pragma: no cover - the state above saw no such entry
        raise ConflictError(N_("%(order_no)s: already in the books"), order_no=order_no)
    row = FinOrderConfirmation(
        account_id=account_id,
        order_no=order_no,
        kind=kind,
        amount=value,
        reason=reason,
        entry_id=posted.entry_id,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


REFUND_NO_MAX = 40
#: Where a prepayment refund may be paid from besides the shop's clearing account (the
#: platform refunding from escrow): the bank, the Alipay or the WeChat Pay balance.
PAID_FROM = ("1002", "1012.01", "1012.02")


def prepayment_refunded(session: Session, account_id: int, order_no: str) -> Decimal:
    """What the order's numbered prepayment refunds (``<order>#<refund no>``) gave back of
    its 2203 before it shipped: the poster ships and cancels only the rest."""
    got = session.execute(
        select(func.coalesce(func.sum(FinLeg.amount), 0))
        .join(FinEntry, FinEntry.id == FinLeg.entry_id)
        .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
        .where(
            FinEntry.account_id == account_id,
            FinEntry.event_kind == PrepaymentRefund.kind,
            FinEntry.source_doc.startswith(order_no + "#", autoescape=True),
            FinAccount.code == "2203",
        )
    ).scalar_one()
    return Decimal(got).quantize(Decimal("0.01"))


def refund_prepayment(
    session: Session,
    account_id: int,
    order_no: str,
    refund_no: str,
    amount: object,
    reason: str,
    on: date,
    now: datetime,
    paid_from: str | None = None,
) -> Posted:
    """Refund a part of the buyer's prepayment before the order ships (退预收款), under the
    refund's own number (the platform's refund id, or yours): the same number again with
    the same amount answers the entry made before (``created=False``), with another amount
    409. Never more than what is paid and not refunded; not once the order has shipped (a
    refund then is an after-sales matter: cloud/finance/returns.py)."""
    refund_no = (refund_no or "").strip()
    if not refund_no or len(refund_no) > REFUND_NO_MAX or "#" in refund_no:
        raise InvalidError(
            N_("give the refund's number: 1 to %(n)s characters, no #"), "refund_no", n=40
        )
    reason = (reason or "").strip()
    if not reason or len(reason) > 300:
        raise InvalidError(N_("say why, in 1 to 300 characters"), "reason")
    value = money(amount, "amount")
    if value <= 0:
        raise InvalidError(
            N_("amount must be more than 0.00 (got %(amount)s)"), "amount", amount=value
        )
    paid_from = paid_from or None
    if paid_from is not None and paid_from not in PAID_FROM:
        raise InvalidError(
            N_(
                "a prepayment goes back from the shop's clearing account, 1002, 1012.01 or"
                " 1012.02, not %(paid_from)s"
            ),
            "paid_from",
            paid_from=paid_from,
        )
    o = _order(session, account_id, order_no)
    session.execute(select(SalesOrder.id).where(SalesOrder.id == o.id).with_for_update())
    doc = f"{order_no}#{refund_no}"
    if len(doc) > 64:
        raise InvalidError(N_("order and refund numbers together are too long"), "refund_no")
    event = PrepaymentRefund(doc, o.channel, value, on, paid_from, reason)
    before = events.find(session, account_id, event)
    if before is not None:
        had = session.execute(
            select(FinLeg.amount)
            .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
            .where(FinLeg.entry_id == before, FinAccount.code == "2203")
        ).scalar_one()
        if Decimal(had) != value:
            raise ConflictError(
                N_("refund %(refund_no)s of %(order_no)s was %(had)s, not %(amount)s"),
                refund_no=refund_no,
                order_no=order_no,
                had=Decimal(had).quantize(Decimal("0.01")),
                amount=value,
            )
        return Posted(before, created=False)
    state = money_of(session, account_id, order_no)
    if state.shipped or o.status == "shipped":
        raise ConflictError(
            N_("%(order_no)s has shipped: refund it through an after-sales request"),
            order_no=order_no,
        )
    left = state.paid - state.refunded
    if state.paid == 0:
        raise ConflictError(
            N_("%(order_no)s has no payment in the books: confirm the payment first"),
            order_no=order_no,
        )
    if value > left:
        raise ConflictError(
            N_("%(order_no)s: %(amount)s is more than the %(left)s paid"),
            order_no=order_no,
            amount=value,
            left=left,
        )
    seed_chart(session, account_id)
    return events.record(session, account_id, event, now)
