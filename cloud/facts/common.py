"""What the facts' modules share: booking movements with the override task a negative bin
or stock opens, and the check that a station's node is at the fact's warehouse."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import NodeAssignment, Warehouse
from cloud.errors import N_, ConflictError
from cloud.stock.ledger import Move, post_as_happened


def book(
    session: Session,
    account_id: int,
    moves: list[Move],
    now: datetime,
    node: str,
    what: dict[str, Any],
    order_no: str | None = None,
) -> None:
    """``what``: the booking, a sentence (cloud/tasks.py) for the task an override opens."""
    why = post_as_happened(session, account_id, moves, now)
    tasks.open_override_task(session, account_id, what, why, now, node_id=node, order_no=order_no)


def check_at(session: Session, account_id: int, node: str, warehouse: str) -> None:
    """Refuse a station's fact for a warehouse its node is not assigned to (the receiving,
    returns and transfer facts each check this before booking)."""
    assigned = session.execute(
        select(Warehouse.code)
        .join(NodeAssignment, NodeAssignment.warehouse_id == Warehouse.id)
        .where(NodeAssignment.node_id == node, Warehouse.account_id == account_id)
    ).scalar_one_or_none()
    if assigned != warehouse:
        raise ConflictError(
            N_("node %(node)s is at warehouse %(at)s, not %(wanted)s"),
            node=node,
            at=assigned or "none",
            wanted=warehouse,
        )
