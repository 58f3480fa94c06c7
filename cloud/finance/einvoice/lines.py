"""An invoice's lines: tax classification code, rate, amount without tax and tax.

数电票 rules (research/finance-einvoice.md): each line carries the 19-digit 税收分类编码, its
rate, the amount without tax and the tax, rounded per line half up (四舍五入), never banker's.
Online sellers sell at tax-inclusive prices, so a line given with its tax-inclusive total is
back-calculated: amount = round(total / (1 + rate), 2), tax = total - amount (the parts add
up to what the buyer paid; cloud/finance/money.py). A line given without tax gets tax =
round(amount x rate, 2). Sums are of the rounded lines (the invoice shows the lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from cloud.errors import N_, InvalidError
from cloud.finance.money import LIMIT, money, split_tax_inclusive, tax_of

#: VAT rates an ordinary seller invoices at (13/9/6 %, the 5/3/1 % levy rates, 0).
RATES = frozenset(Decimal(r) for r in ("0", "0.01", "0.03", "0.05", "0.06", "0.09", "0.13"))
_CODE = re.compile(r"\d{19}")
MAX_LINES = 200
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class LineIn:
    """A line as a person or an order gives it: ``price`` is the line's tax-inclusive total
    unless ``includes_tax`` is False."""

    name: str
    tax_code: str
    rate: str
    quantity: int
    price: str
    includes_tax: bool = True


@dataclass(frozen=True)
class Line:
    line_no: int
    name: str
    tax_code: str
    rate: Decimal
    quantity: int
    amount: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax


def rate_of(value: object, line_no: int) -> Decimal:
    try:
        rate = Decimal(str(value)) if isinstance(value, (str, Decimal, int)) else None
    except InvalidOperation:
        rate = None
    if rate is None or rate not in RATES:
        raise InvalidError(
            N_(
                "line %(line)s: tax rate %(rate)s is not one of 0, 0.01, 0.03, 0.05, 0.06, 0.09, 0.13"
            ),
            "lines",
            line=line_no,
            rate=value,
        )
    return rate


def build(raw: list[LineIn]) -> list[Line]:
    """Checked lines with their amounts and taxes; 422 with the line number for bad input."""
    if not raw:
        raise InvalidError(N_("an invoice needs at least one line"), "lines")
    if len(raw) > MAX_LINES:
        raise InvalidError(N_("an invoice has at most %(n)s lines"), "lines", n=MAX_LINES)
    out = []
    for n, x in enumerate(raw, start=1):
        name = x.name.strip()
        if not name or len(name) > 100:
            raise InvalidError(
                N_("line %(line)s: give the goods' name (at most 100 characters)"), "lines", line=n
            )
        if not _CODE.fullmatch(x.tax_code):
            raise InvalidError(
                N_("line %(line)s: the tax classification code %(code)s is not 19 digits"),
                "lines",
                line=n,
                code=x.tax_code,
            )
        if (
            isinstance(x.quantity, bool)
            or not isinstance(x.quantity, int)
            or not 1 <= x.quantity <= MAX_QUANTITY
        ):
            raise InvalidError(
                N_("line %(line)s: quantity %(qty)s must be a whole number from 1 to 1000000"),
                "lines",
                line=n,
                qty=x.quantity,
            )
        rate = rate_of(x.rate, n)
        price = money(x.price, f"line {n} price")
        if price <= 0:
            raise InvalidError(
                N_("line %(line)s: the amount must be more than 0.00 (a red invoice reverses one)"),
                "lines",
                line=n,
            )
        if x.includes_tax:
            amount, tax = split_tax_inclusive(price, rate)
        else:
            amount, tax = price, tax_of(price, rate)
        if amount <= 0:
            raise InvalidError(
                N_("line %(line)s: %(price)s is too small to carry tax at %(rate)s"),
                "lines",
                line=n,
                price=price,
                rate=rate,
            )
        out.append(Line(n, name, x.tax_code, rate, x.quantity, amount, tax))
    if sum((x.total for x in out), Decimal(0)) >= LIMIT:
        raise InvalidError(N_("the invoice's total is too large for the books"), "lines")
    return out


def totals(lines: list[Line]) -> tuple[Decimal, Decimal]:
    return sum((x.amount for x in lines), Decimal("0.00")), sum(
        (x.tax for x in lines), Decimal("0.00")
    )
