"""Money as ``Decimal``: parsing that refuses what is not money, and Chinese tax rounding.

Python's ``round`` and ``Decimal.quantize``'s default context round half to even (banker's);
Chinese invoices round half up (四舍五入; the 数电票 rules: tax per line =
round(amount x rate, 2), half up; research/finance-einvoice.md). Every rounding here names
ROUND_HALF_UP. A float never enters: 0.1 + 0.2 is not 0.3 in binary.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cloud.errors import N_, InvalidError

CENT = Decimal("0.01")
#: Amounts fit NUMERIC(18,2): 16 digits before the point.
LIMIT = Decimal("10000000000000000")
_PLAIN = re.compile(r"-?\d+(\.\d{1,2})?")


def half_up(value: Decimal, exp: Decimal = CENT) -> Decimal:
    """``value`` rounded half up to ``exp`` (0.005 → 0.01, 0.015 → 0.02, -0.005 → -0.01)."""
    return value.quantize(exp, rounding=ROUND_HALF_UP)


def money(value: object, field: str = "amount") -> Decimal:
    """A Decimal with at most two decimals from a Decimal, an int or a plain string.

    Refused (InvalidError, nothing changed): floats (their binary value is not the decimal
    a person typed), strings with thousands separators or spaces, more than two decimals,
    NaN and infinities, amounts beyond NUMERIC(18,2).
    """
    if isinstance(value, (bool, float)):
        raise InvalidError(
            N_("%(field)s: give money as a decimal string, not a float"), field, field=field
        )
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidError(
                N_("%(field)s: %(value)s is not an amount"), field, field=field, value=value
            )
        if value != value.quantize(CENT, rounding=ROUND_HALF_UP):
            raise InvalidError(
                N_("%(field)s: %(value)s has more than two decimals"),
                field,
                field=field,
                value=value,
            )
        result = value
    elif isinstance(value, str):
        if not _PLAIN.fullmatch(value):
            raise InvalidError(
                N_(
                    "%(field)s: %(value)r is not an amount like 1234.56 (no commas, spaces or more "
                    "than two decimals)"
                ),
                field,
                field=field,
                value=value,
            )
        try:
            result = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise InvalidError(
                N_("%(field)s: %(value)r is not an amount"), field, field=field, value=value
            ) from None
    else:
        raise InvalidError(
            N_("%(field)s: %(value)r is not an amount"), field, field=field, value=value
        )
    if abs(result) >= LIMIT:
        raise InvalidError(
            N_("%(field)s: %(value)s is too large for the books"), field, field=field, value=value
        )
    return result.quantize(CENT)


def split_tax_inclusive(total: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """(amount without tax, tax) of a tax-inclusive ``total`` at ``rate`` (0.13 for 13 %).

    Back-calculation as the 数电票 lines do it: amount = round(total / (1 + rate), 2) half
    up, tax = total - amount, so the two always add up to the total (no 0.01 residual).
    """
    if rate < 0:
        raise InvalidError(N_("a tax rate cannot be negative (%(rate)s)"), "rate", rate=rate)
    net = half_up(total / (1 + rate))
    return net, total - net


def tax_of(amount: Decimal, rate: Decimal) -> Decimal:
    """Tax on an amount without tax: round(amount x rate, 2) half up."""
    return half_up(amount * rate)
