"""What the hub holds of the edge's event streams, as figures: for benches and operators.

Read-only. A bench reads these through ``guanjia cloud event-stats`` rather than the
``event`` table, whose schema is the hub's to change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

from sqlalchemy import String, cast, distinct, func, select
from sqlalchemy.orm import Session

from cloud.db.models import Event
from protocol.hlc import unpack


class EventStats(TypedDict):
    total: int
    distinct: int
    nodes_with_gaps: int
    lag_ms: list[float]


def _epoch_ms(at: datetime) -> float:
    # SQLite hands back the naive UTC time the hub stored; PostgreSQL an aware one.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000


def event_stats(session: Session, lag_type: str | None = None) -> EventStats:
    """Every event, distinct (node, seq), nodes whose seqs are not exactly 1..n, and per
    event of ``lag_type`` the hub's ``received_at`` minus the event's HLC wall time (ms)."""
    pair = Event.node_id + "/" + cast(Event.seq, String)
    total, n_distinct = session.execute(select(func.count(), func.count(distinct(pair)))).one()
    per_node = (
        select(Event.node_id)
        .group_by(Event.node_id)
        .having(func.count() != func.max(Event.seq))
        .subquery()
    )
    gaps = session.scalar(select(func.count()).select_from(per_node)) or 0
    lag: list[float] = []
    if lag_type is not None:
        rows = session.execute(
            select(Event.received_at, Event.hlc).where(Event.type == lag_type)
        ).all()
        lag = [_epoch_ms(at) - unpack(hlc)[0] for at, hlc in rows]
    return EventStats(total=total, distinct=n_distinct, nodes_with_gaps=gaps, lag_ms=lag)
