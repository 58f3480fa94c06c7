"""Business events and the entries they post: pure functions, event (+ cost) -> Draft.

Debit positive, credit negative. The account codes are the chart's (cloud/finance/chart.py);
the event → entry table follows research/finance-einvoice.md:

=====================  ==============================================================
order paid (escrow)    1122.<shop> gross / 2203 customer prepayment
shipped                2203 gross / 6001 net + 22210101 output VAT; 6401 cost / 1405
refund before shipping 2203 / 1122.<shop>
prepayment refund      2203 / 1122.<shop> (or the bank, for a prepayment paid to it), in parts
refund after shipping  6001 net + 22210101 VAT / 1122.<shop>; goods back: 1405 / 6401
return received        1405 / 6401 at the cost the shipment booked (after-sales, per request)
return refund          6001 net + 22210101 VAT / 1122.<shop> (after-sales, per request)
supplier receipt       1405 / 2202.01.<supplier>
supplier payment       2202.01.<supplier> / 1002 bank (or 1012.01/.02)
=====================  ==============================================================

Revenue and VAT are split from the tax-inclusive price half up (cloud/finance/money.py),
the tax as the remainder, so the legs always balance to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cloud.errors import N_, InvalidError
from cloud.finance.chart import party_code
from cloud.finance.ledger import Draft, Leg
from cloud.finance.money import half_up, money, split_tax_inclusive

VAT_RATE = Decimal("0.13")
PAYMENT_ACCOUNTS = ("1002", "1012.01", "1012.02")


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: Decimal


@dataclass(frozen=True)
class OrderPaid:
    order_no: str
    shop: str
    amount: Decimal
    on: date
    kind = "order_paid"


@dataclass(frozen=True)
class OrderShipped:
    order_no: str
    shop: str
    amount: Decimal
    lines: tuple[Line, ...]
    on: date
    vat_rate: Decimal = VAT_RATE
    kind = "order_shipped"


@dataclass(frozen=True)
class RefundBeforeShipping:
    order_no: str
    shop: str
    amount: Decimal
    on: date
    kind = "refund_unshipped"


@dataclass(frozen=True)
class PrepaymentRefund:
    """A part of a buyer's prepayment (预收账款 2203) refunded before the order ships, one
    of several perhaps (a line out of stock, a price adjusted): back through the shop's
    clearing account (the platform refunds from escrow), or from ``paid_from`` (1002 bank,
    1012.01/.02) for a prepayment the buyer paid to the seller. ``doc``:
    ``<order>#<refund no>``; the kind is that of a refund before shipping, so the order's
    money state counts it."""

    doc: str
    shop: str
    amount: Decimal
    on: date
    paid_from: str | None = None
    memo: str = ""
    kind = "refund_unshipped"


@dataclass(frozen=True)
class RefundAfterShipping:
    """A refund of a shipped order; ``returned``: the goods came back (all of them)."""

    order_no: str
    shop: str
    amount: Decimal
    returned: bool
    on: date
    lines: tuple[Line, ...] = ()
    vat_rate: Decimal = VAT_RATE
    kind = "refund_shipped"


@dataclass(frozen=True)
class ReturnReceived:
    """Goods of a shipped order back from the buyer (售后收货, an after-sales request):
    into inventory at the cost their shipment took out. ``doc``: ``<order>#<request>``."""

    doc: str
    order_no: str
    lines: tuple[Line, ...]
    on: date
    kind = "return_received"


@dataclass(frozen=True)
class ReturnRefund:
    """An after-sales refund of a shipped order (a return or a refund only): revenue and
    output VAT back, owed to the buyer through the shop's clearing account. ``doc``:
    ``<order>#<request>``; the kind is that of a refund after shipping, so the order's
    money state counts it (cloud/finance/order_money.py)."""

    doc: str
    shop: str
    amount: Decimal
    on: date
    vat_rate: Decimal = VAT_RATE
    kind = "refund_shipped"


@dataclass(frozen=True)
class SupplierReceipt:
    receipt_no: str
    supplier: str
    sku: str
    quantity: Decimal
    unit_cost: Decimal
    on: date
    kind = "supplier_receipt"


@dataclass(frozen=True)
class SupplierPayment:
    payment_no: str
    supplier: str
    amount: Decimal
    on: date
    paid_from: str = "1002"
    kind = "supplier_payment"


Event = (
    OrderPaid
    | OrderShipped
    | RefundBeforeShipping
    | PrepaymentRefund
    | RefundAfterShipping
    | ReturnReceived
    | ReturnRefund
    | SupplierReceipt
    | SupplierPayment
)


def source_of(event: Event) -> str:
    if isinstance(event, SupplierReceipt):
        return event.receipt_no
    if isinstance(event, SupplierPayment):
        return event.payment_no
    if isinstance(event, ReturnReceived | ReturnRefund | PrepaymentRefund):
        return event.doc
    return event.order_no


def key_of(event: Event) -> tuple[str, str]:
    """The natural key the event's entry has: (source document, event kind)."""
    return (source_of(event), event.kind)


def _positive(value: Decimal, field: str) -> Decimal:
    amount = money(value, field)
    if amount <= 0:
        raise InvalidError(
            N_("%(field)s must be more than 0.00 (got %(amount)s)"),
            field,
            field=field,
            amount=amount,
        )
    return amount


def _legs(*pairs: tuple[str, Decimal]) -> tuple[Leg, ...]:
    # A zero leg says nothing (cost 0.00 of a free gift): left out.
    return tuple(Leg(code, amount) for code, amount in pairs if amount != 0)


def order_paid(e: OrderPaid) -> Draft:
    amount = _positive(e.amount, "amount")
    clearing = party_code("1122", e.shop)
    return Draft(
        e.order_no, e.kind, e.on, _legs((clearing, amount), ("2203", -amount)), "order paid"
    )


def order_shipped(e: OrderShipped, cost: Decimal) -> Draft:
    """``cost``: the goods' moving-average cost, as the caller found it (events.py)."""
    amount = _positive(e.amount, "amount")
    net, tax = split_tax_inclusive(amount, e.vat_rate)
    cost = money(cost, "cost")
    return Draft(
        e.order_no,
        e.kind,
        e.on,
        _legs(
            ("2203", amount),
            ("6001", -net),
            ("22210101", -tax),
            ("6401", cost),
            ("1405", -cost),
        ),
        "shipped",
    )


def refund_before_shipping(e: RefundBeforeShipping) -> Draft:
    amount = _positive(e.amount, "amount")
    clearing = party_code("1122", e.shop)
    return Draft(e.order_no, e.kind, e.on, _legs(("2203", amount), (clearing, -amount)), "refund")


def prepayment_refund(e: PrepaymentRefund) -> Draft:
    amount = _positive(e.amount, "amount")
    if e.paid_from is not None and e.paid_from not in PAYMENT_ACCOUNTS:
        raise InvalidError(
            N_("pay from one of %(accounts)s"), "paid_from", accounts=", ".join(PAYMENT_ACCOUNTS)
        )
    out = e.paid_from or party_code("1122", e.shop)
    memo = f"prepayment refund {e.memo}".strip()[:200]
    return Draft(e.doc, e.kind, e.on, _legs(("2203", amount), (out, -amount)), memo)


def refund_after_shipping(e: RefundAfterShipping, returned_cost: Decimal) -> Draft:
    """``returned_cost``: the cost the shipment booked, when the goods came back."""
    amount = _positive(e.amount, "amount")
    net, tax = split_tax_inclusive(amount, e.vat_rate)
    back = money(returned_cost, "returned_cost") if e.returned else Decimal("0.00")
    clearing = party_code("1122", e.shop)
    return Draft(
        e.order_no,
        e.kind,
        e.on,
        _legs(
            ("6001", net),
            ("22210101", tax),
            (clearing, -amount),
            ("1405", back),
            ("6401", -back),
        ),
        "refund after shipping",
    )


def return_received(e: ReturnReceived, cost: Decimal) -> Draft:
    """``cost``: what the goods' shipment booked for them (cloud/finance/returns.py)."""
    back = money(cost, "cost")
    return Draft(e.doc, e.kind, e.on, _legs(("1405", back), ("6401", -back)), "return received")


def return_refund(e: ReturnRefund) -> Draft:
    amount = _positive(e.amount, "amount")
    net, tax = split_tax_inclusive(amount, e.vat_rate)
    clearing = party_code("1122", e.shop)
    return Draft(
        e.doc,
        e.kind,
        e.on,
        _legs(("6001", net), ("22210101", tax), (clearing, -amount)),
        "after-sales refund",
    )


def receipt_value(e: SupplierReceipt) -> Decimal:
    """What the received goods are worth: quantity x unit cost, half up to the cent."""
    if e.quantity <= 0:
        raise InvalidError(
            N_("quantity must be more than 0 (got %(quantity)s)"), "quantity", quantity=e.quantity
        )
    unit = e.unit_cost
    if isinstance(unit, float) or not isinstance(unit, Decimal) or unit < 0:
        raise InvalidError(
            N_("unit cost must be a Decimal of 0 or more (got %(unit)r)"), "unit_cost", unit=unit
        )
    return half_up(e.quantity * unit)


def supplier_receipt(e: SupplierReceipt) -> Draft:
    value = receipt_value(e)
    payable = party_code("2202.01", e.supplier)
    return Draft(e.receipt_no, e.kind, e.on, _legs(("1405", value), (payable, -value)), "received")


def supplier_payment(e: SupplierPayment) -> Draft:
    amount = _positive(e.amount, "amount")
    if e.paid_from not in PAYMENT_ACCOUNTS:
        raise InvalidError(
            N_("pay from one of %(accounts)s"), "paid_from", accounts=", ".join(PAYMENT_ACCOUNTS)
        )
    payable = party_code("2202.01", e.supplier)
    return Draft(
        e.payment_no,
        e.kind,
        e.on,
        _legs((payable, amount), (e.paid_from, -amount)),
        "supplier payment",
    )
