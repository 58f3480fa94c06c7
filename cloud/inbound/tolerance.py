"""Over/under-receipt tolerance (docs/inbound.md "Tolerance"), in percent of a line's qty.

Odoo and GreaterWMS both let a receipt differ from the order by a set margin; here one
percentage per PO serves both ways: a line takes at most ``qty × (1 + t)`` units in all
(rounded down: never more than the buyer agreed to) and is complete from ``qty × (1 − t)``
(rounded up: a short delivery within tolerance ends the line)."""

from __future__ import annotations

import math
from decimal import Decimal


def most_allowed(qty: int, tolerance_pct: Decimal) -> int:
    """The most units a line may receive in all."""
    return math.floor(Decimal(qty) * (100 + tolerance_pct) / 100)


def enough(qty: int, tolerance_pct: Decimal) -> int:
    """Units from which a line is complete (the rest is no longer expected)."""
    return math.ceil(Decimal(qty) * (100 - tolerance_pct) / 100)
