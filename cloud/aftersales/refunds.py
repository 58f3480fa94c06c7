"""Refund instructions (退款指令, ``aftersales_refund``): the one place their status moves.

    pending ─confirm─▶ confirmed ─pay─▶ paid

* **pending**: written when a return is received or a refund-only request approved
  (cloud/aftersales/workflow.py).
* **confirmed**: the books hold the refund (finance's poster, cloud/finance/returns.py:
  revenue and output VAT reversed against the shop's clearing account); ``entry_id``.
* **paid**: the money went back to the buyer — a platform settlement row refunding the
  order (cloud/finance/settlements.py); ``paid_by`` its 账务流水号.

Both moves are idempotent: a refund already past the state asked for is left as it is, so a
redelivered fact or a settlement row matched again changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.aftersales import AftersalesRefund

STATES: Final = ("pending", "confirmed", "paid")


def of_request(session: Session, request_id: int) -> list[AftersalesRefund]:
    return list(
        session.execute(
            select(AftersalesRefund)
            .where(AftersalesRefund.request_id == request_id)
            .order_by(AftersalesRefund.line_no)
            .with_for_update()
        ).scalars()
    )


def confirm(
    session: Session, request_id: int, entry_id: int | None, now: datetime
) -> list[AftersalesRefund]:
    """The request's pending refunds are in the books (``entry_id``; None when there was
    nothing to book, a refund of 0.00); returns those it moved."""
    moved = [r for r in of_request(session, request_id) if r.status == "pending"]
    for r in moved:
        r.status, r.entry_id, r.changed_at = "confirmed", entry_id, now
    session.flush()
    return moved


def pay(
    session: Session, account_id: int, order_no: str, amount: Decimal, paid_by: str, now: datetime
) -> Decimal:
    """A refund of ``amount`` for ``order_no`` went out (a settlement row, ``paid_by``):
    the order's confirmed refunds that fit in it, oldest first, become paid. Returns what
    of ``amount`` no refund instruction took (a refund agreed on the platform only)."""
    left = amount
    rows = session.execute(
        select(AftersalesRefund)
        .where(
            AftersalesRefund.account_id == account_id,
            AftersalesRefund.order_no == order_no,
            AftersalesRefund.status == "confirmed",
        )
        .order_by(AftersalesRefund.id)
        .with_for_update()
    ).scalars()
    for r in rows:
        if r.amount <= left:
            r.status, r.paid_by, r.changed_at = "paid", paid_by[:120], now
            left -= r.amount
    session.flush()
    return left
