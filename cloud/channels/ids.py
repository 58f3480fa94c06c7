"""The numbers marketplaces send as ids and counts, read strictly.

TOP's trade, order-line, refund and message ids and Shopify Admin's resource ids are 64-bit
integers (TOP API reference: ``tid`` Number, ``tid_str`` its text; Shopify Admin REST: ids
are 64-bit integers), sent as JSON numbers or text. ``str.isdigit()``, which the adapters
used, also takes what is not an ASCII numeral: ``"²"`` (``int("²")`` then raised a bare
ValueError) and ``"１２"``; and it takes any length, where our columns keep 64 characters
(a Shopify order id of 300 digits failed the order model: ``make fuzz``, 100,000 Shopify
answers, 478 cases). Here: ASCII digits only, at most 20 (2^64 has 20 digits).
"""

from __future__ import annotations

import re
from typing import Final

_DIGITS: Final = re.compile(r"[0-9]{1,20}")


def digits(value: object) -> str | None:
    """``value`` as the decimal text of a 64-bit id or count, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    return text if _DIGITS.fullmatch(text) else None
