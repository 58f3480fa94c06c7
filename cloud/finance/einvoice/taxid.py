"""The buyer's 纳税人识别号 (taxpayer identification number), checked before anything is sent.

Forms accepted:

* 18 characters: the unified social credit code (统一社会信用代码), GB 32100-2015 "法人和其他
  组织统一社会信用代码编码规则". Characters from the 31 of its code table (digits and capitals
  without I, O, Z, S, V); the 18th is the check character: with the weights
  3^(i-1) mod 31 of positions 1-17 (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10,
  30, 28), check = 31 - (sum of value x weight mod 31), 31 written as 0.
* 15, 17 or 20 characters, digits and capitals: the taxpayer numbers issued before the
  unified code (15: region code + organisation code; 17/20: individual businesses by
  resident ID number), which invoices still carry for buyers registered then (the issue's
  "15/17/20 legacy forms"; not checked against a published rule). Only their form is
  checkable: they carry no check character that covers the whole number.

Lower-case input is taken as upper case (people type it so); spaces are not removed —
a tax id with a space in it is a typo to be shown, not guessed at.
"""

from __future__ import annotations

import re

from cloud.errors import N_, InvalidError

CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_LEGACY = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{17}|[0-9A-Z]{20}")


def check_char(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters."""
    total = sum(CHARS.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARS[(31 - total % 31) % 31]


def uscc_ok(code: str) -> bool:
    return len(code) == 18 and all(c in CHARS for c in code) and check_char(code[:17]) == code[17]


def normalise(tax_id: str | None) -> str | None:
    """The tax id upper-cased, or None for none (a person buys without one); 422 otherwise."""
    if tax_id is None or tax_id == "":
        return None
    value = tax_id.upper()
    if len(value) == 18:
        if not all(c in CHARS for c in value):
            raise InvalidError(
                N_(
                    "buyer tax id %(tax_id)s: an 18-character unified social credit code uses "
                    "only digits and capitals without I, O, Z, S, V (GB 32100-2015)"
                ),
                "buyer_tax_id",
                tax_id=tax_id,
            )
        if not uscc_ok(value):
            raise InvalidError(
                N_(
                    "buyer tax id %(tax_id)s: the check character is wrong (should be "
                    "%(check)s by GB 32100-2015); please check the number with the buyer"
                ),
                "buyer_tax_id",
                tax_id=tax_id,
                check=check_char(value[:17]),
            )
        return value
    if not _LEGACY.fullmatch(value):
        raise InvalidError(
            N_(
                "buyer tax id %(tax_id)s is not a taxpayer number: give the 18-character "
                "unified social credit code, or an older 15, 17 or 20 character number of "
                "digits and capitals"
            ),
            "buyer_tax_id",
            tax_id=tax_id,
        )
    return value
