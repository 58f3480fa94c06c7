"""Record a business event in the books: once, however often it is delivered.

The entry and the moving-average cost it moves are written in the caller's transaction:
either both or neither. An event whose natural key is already in the books changes nothing
(the cost included), so a redelivery after a crash between commit and acknowledgement, or
the same event from two workers at once, leaves the books as one delivery would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.finance import FinAccount, FinEntry, FinItemCost, FinLeg, FinShipmentCost
from cloud.errors import N_, InvalidError
from cloud.finance import ledger, postings
from cloud.finance.chart import open_party_accounts
from cloud.finance.ledger import Draft, Posted
from cloud.finance.money import half_up
from cloud.finance.postings import (
    Event,
    Line,
    OrderPaid,
    OrderShipped,
    PrepaymentRefund,
    RefundAfterShipping,
    RefundBeforeShipping,
    ReturnReceived,
    ReturnRefund,
    SupplierPayment,
    SupplierReceipt,
)

ZERO = Decimal("0.00")


@dataclass
class _CostChange:
    sku: str
    quantity: Decimal
    value: Decimal


def record(session: Session, account_id: int, event: Event, now: datetime) -> Posted:
    """Post ``event``'s entry (or find the one it posted before) in the caller's transaction.

    An event that moves no money (goods of cost 0.00 back) posts nothing: ``Posted(0,
    False)``."""
    existing = find(session, account_id, event)
    if existing is not None:
        return Posted(existing, created=False)
    draft, changes = _draft(session, account_id, event)
    if not draft.legs:
        return Posted(0, created=False)
    open_party_accounts(session, account_id, {leg.code for leg in draft.legs})
    posted = ledger.post(session, account_id, draft, now)
    if posted.created:  # a concurrent delivery that lost the race moves no cost
        for c in changes:
            _apply(session, account_id, c)
        if isinstance(event, OrderShipped):
            _keep_shipment_cost(session, account_id, posted.entry_id, changes)
    return posted


def find(session: Session, account_id: int, event: Event) -> int | None:
    """The entry ``event`` posted before (its natural key), if any."""
    doc, kind = postings.key_of(event)
    existing = session.execute(
        select(FinEntry.id).where(
            FinEntry.account_id == account_id,
            FinEntry.source_doc == doc,
            FinEntry.event_kind == kind,
        )
    ).scalar_one_or_none()
    return None if existing is None else int(existing)


def _draft(session: Session, account_id: int, event: Event) -> tuple[Draft, list[_CostChange]]:
    if isinstance(event, OrderPaid):
        return postings.order_paid(event), []
    if isinstance(event, RefundBeforeShipping):
        return postings.refund_before_shipping(event), []
    if isinstance(event, SupplierPayment):
        return postings.supplier_payment(event), []
    if isinstance(event, SupplierReceipt):
        value = postings.receipt_value(event)
        _cost_row(session, account_id, event.sku)  # lock it before the entry is written
        return postings.supplier_receipt(event), [_CostChange(event.sku, event.quantity, value)]
    if isinstance(event, OrderShipped):
        changes = [_issue(session, account_id, line) for line in event.lines]
        cost = sum((-c.value for c in changes), ZERO)
        return postings.order_shipped(event, cost), changes
    if isinstance(event, RefundAfterShipping):
        back, changes = _returned(session, account_id, event) if event.returned else (ZERO, [])
        return postings.refund_after_shipping(event, back), changes
    if isinstance(event, ReturnRefund):
        return postings.return_refund(event), []
    if isinstance(event, PrepaymentRefund):
        return postings.prepayment_refund(event), []
    if isinstance(event, ReturnReceived):
        changes = _returned_goods(session, account_id, event)
        cost = sum((c.value for c in changes), ZERO)
        return postings.return_received(event, cost), changes
    raise TypeError(f"not a business event: {event!r}")  # pragma: no cover - typed


def _cost_row(session: Session, account_id: int, sku: str) -> FinItemCost | None:
    # FOR UPDATE: two shipments of one SKU at once read and move the average one after the
    # other (PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE).
    return session.execute(
        select(FinItemCost)
        .where(FinItemCost.account_id == account_id, FinItemCost.sku == sku)
        .with_for_update()
    ).scalar_one_or_none()


def _issue(session: Session, account_id: int, line: Line) -> _CostChange:
    """The cost of shipping ``line`` at the moving average: the whole remaining value when
    the last units leave, so no rounding residue is left on an empty SKU (the 0.01 residuals
    ERPNext and Odoo fight)."""
    if line.quantity <= 0:
        raise InvalidError(N_("%(sku)s: quantity must be more than 0"), "quantity", sku=line.sku)
    row = _cost_row(session, account_id, line.sku)
    if row is None or row.quantity < line.quantity:
        have = ZERO if row is None else row.quantity
        raise InvalidError(
            N_(
                "%(sku)s: %(quantity)s shipped but only %(have)s received at a known cost; book "
                "the supplier receipt first"
            ),
            "lines",
            sku=line.sku,
            quantity=line.quantity,
            have=have,
        )
    if row.quantity == line.quantity:
        value = row.value
    else:
        value = half_up(row.value * line.quantity / row.quantity)
    return _CostChange(line.sku, -line.quantity, -value)


def _returned(
    session: Session, account_id: int, event: RefundAfterShipping
) -> tuple[Decimal, list[_CostChange]]:
    """Goods back at the cost their shipment booked (its 1405 legs), per SKU in proportion
    to quantity; the last SKU takes the remainder so the parts add up to the whole."""
    shipped = session.execute(
        select(FinEntry.id).where(
            FinEntry.account_id == account_id,
            FinEntry.source_doc == event.order_no,
            FinEntry.event_kind == OrderShipped.kind,
        )
    ).scalar_one_or_none()
    if shipped is None:
        raise InvalidError(
            N_("%(order_no)s was not shipped: refund it before shipping"),
            "order",
            order_no=event.order_no,
        )
    booked = -sum(
        session.execute(
            select(FinLeg.amount)
            .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
            .where(FinLeg.entry_id == shipped, FinAccount.code == "1405")
        ).scalars(),
        ZERO,
    )
    if not event.lines:
        raise InvalidError(
            N_("%(order_no)s: say which goods came back"), "lines", order_no=event.order_no
        )
    return booked, _back(session, account_id, booked, event.lines)


def _back(
    session: Session, account_id: int, booked: Decimal, lines: tuple[Line, ...]
) -> list[_CostChange]:
    """``booked`` (a shipment's cost) back on its SKUs in proportion to quantity."""
    total = sum((line.quantity for line in lines), Decimal(0))
    changes: list[_CostChange] = []
    left = booked
    for i, line in enumerate(lines):
        _cost_row(session, account_id, line.sku)
        part = left if i == len(lines) - 1 else half_up(booked * line.quantity / total)
        left -= part
        changes.append(_CostChange(line.sku, line.quantity, part))
    return changes


def _keep_shipment_cost(
    session: Session, account_id: int, entry_id: int, changes: list[_CostChange]
) -> None:
    """What the shipment took out per SKU, for the goods that may come back (returns)."""
    per: dict[str, tuple[Decimal, Decimal]] = {}
    for c in changes:
        q, v = per.get(c.sku, (Decimal(0), ZERO))
        per[c.sku] = (q - c.quantity, v - c.value)
    for sku, (q, v) in per.items():
        session.add(
            FinShipmentCost(account_id=account_id, entry_id=entry_id, sku=sku, quantity=q, value=v)
        )
    session.flush()


def live_shipment(session: Session, account_id: int, order_no: str) -> int | None:
    """The order's shipment entry that stands: its last one not taken back (冲销出库)."""
    reversed_ids = select(FinEntry.reverses_id).where(
        FinEntry.account_id == account_id, FinEntry.reverses_id.is_not(None)
    )
    found = session.execute(
        select(FinEntry.id)
        .where(
            FinEntry.account_id == account_id,
            FinEntry.event_kind == OrderShipped.kind,
            (FinEntry.source_doc == order_no) | FinEntry.source_doc.startswith(order_no + "#"),
            FinEntry.id.not_in(reversed_ids),
        )
        .order_by(FinEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _returned_goods(session: Session, account_id: int, event: ReturnReceived) -> list[_CostChange]:
    """Each returned line at the cost its shipment took out for that SKU, pro rata to the
    units (all of them back: exactly that cost). A shipment booked before its costs were
    kept per SKU (migration 0037) falls back to the SKU's moving average today."""
    shipment = live_shipment(session, account_id, event.order_no)
    if shipment is None:
        raise InvalidError(
            N_("%(order_no)s has no shipment in the books for its goods to come back from"),
            "order",
            order_no=event.order_no,
        )
    kept = {
        r.sku: r
        for r in session.execute(
            select(FinShipmentCost).where(
                FinShipmentCost.account_id == account_id, FinShipmentCost.entry_id == shipment
            )
        ).scalars()
    }
    changes: list[_CostChange] = []
    for line in event.lines:
        if line.quantity <= 0:
            raise InvalidError(
                N_("%(sku)s: quantity must be more than 0"), "quantity", sku=line.sku
            )
        row = _cost_row(session, account_id, line.sku)  # locked before the entry is written
        shipped = kept.get(line.sku)
        if shipped is not None and line.quantity <= shipped.quantity:
            if line.quantity == shipped.quantity:
                value = Decimal(shipped.value)
            else:
                value = half_up(shipped.value * line.quantity / shipped.quantity)
        elif row is not None and row.quantity > 0:
            value = half_up(row.value * line.quantity / row.quantity)
        else:
            raise InvalidError(
                N_(
                    "%(sku)s came back for %(order_no)s, but neither its shipment nor the "
                    "stock holds a cost for it"
                ),
                "lines",
                sku=line.sku,
                order_no=event.order_no,
            )
        changes.append(_CostChange(line.sku, line.quantity, value))
    return changes


def unship(
    session: Session,
    account_id: int,
    source_doc: str,
    lines: tuple[Line, ...],
    on: date,
    now: datetime,
) -> Posted:
    """A shipment taken back before it was refunded (冲销出库, docs/orders.md): its entry is
    reversed (ledger.reverse, once by its key) and its goods come back at the cost it
    booked, so a later shipment of them costs what this one did."""
    shipped = session.execute(
        select(FinEntry.id).where(
            FinEntry.account_id == account_id,
            FinEntry.source_doc == source_doc,
            FinEntry.event_kind == OrderShipped.kind,
        )
    ).scalar_one_or_none()
    if shipped is None:
        raise InvalidError(
            N_("%(doc)s has no shipment in the books to take back"), "order", doc=source_doc
        )
    booked = -sum(
        session.execute(
            select(FinLeg.amount)
            .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
            .where(FinLeg.entry_id == shipped, FinAccount.code == "1405")
        ).scalars(),
        ZERO,
    )
    changes = _back(session, account_id, booked, lines) if lines else []
    posted = ledger.reverse(session, account_id, shipped, on, now, f"冲销出库 {source_doc}")
    if posted.created:
        for c in changes:
            _apply(session, account_id, c)
    return posted


def _apply(session: Session, account_id: int, c: _CostChange) -> None:
    row = session.get(FinItemCost, (account_id, c.sku))
    if row is None:
        session.add(
            FinItemCost(account_id=account_id, sku=c.sku, quantity=c.quantity, value=c.value)
        )
    else:
        row.quantity += c.quantity
        row.value += c.value
    session.flush()
