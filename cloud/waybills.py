"""Waybill numbers (面单号) for released orders.

A real seller gets these from each courier's electronic-waybill service (电子面单),
which belongs to the channel and courier integrations (a later issue). Until then the
hub draws numbers itself, in each courier's usual shape, unique within the account,
so the pack station always has a number to print and the label always scans.
"""

from __future__ import annotations

import secrets
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import SalesOrder

#: Prefix and number of digits per courier, as their waybills usually look.
SHAPES: Final[dict[str, tuple[str, int]]] = {
    "SF": ("SF", 13),
    "ZTO": ("75", 12),
    "YTO": ("YT", 13),
    "STO": ("77", 12),
    "HTKY": ("HT", 13),
    "YUNDA": ("43", 13),
    "EMS": ("E", 12),
}


def allocate(session: Session, account_id: int, carrier: str) -> str:
    prefix, digits = SHAPES.get(carrier.upper(), ("GJ", 12))
    for _ in range(20):
        number = prefix + "".join(str(secrets.randbelow(10)) for _ in range(digits))
        taken = session.execute(
            select(SalesOrder.id).where(
                SalesOrder.account_id == account_id, SalesOrder.tracking_number == number
            )
        ).first()
        if taken is None:
            return number
    raise RuntimeError(f"could not draw a free waybill number for {carrier}")  # pragma: no cover
