"""Edge nodes as the hub knows them: registration and presence. No web code here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db.models import Event, Node


def lock_node(session: Session, node_id: str, now: datetime) -> tuple[Node, bool]:
    """Return the node's row locked for this transaction, creating it if new.

    The row lock (``FOR UPDATE`` on PostgreSQL; SQLite's write lock is
    database-wide) serialises workers that handle the same node, so two
    ingest workers can never both apply the same (node, seq).
    """
    dialect = session.get_bind().dialect.name
    values = {
        "node_id": node_id,
        "epoch": 0,
        "acked_through": 0,
        "down_head": 0,
        "online": False,
        "first_seen": now,
        "last_seen": now,
    }
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = session.execute(
        insert(Node)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["node_id"])
        .returning(Node.node_id)
    ).scalar_one_or_none()
    node = session.execute(
        select(Node).where(Node.node_id == node_id).with_for_update()
    ).scalar_one()
    return node, created is not None


def lock_nodes(
    session: Session, node_ids: list[str], now: datetime
) -> dict[str, tuple[Node, bool]]:
    """:func:`lock_node` for many nodes at once (created if new, locked in id order).

    Known nodes, the common case, cost one ``SELECT ... FOR UPDATE``; only
    nodes seen for the first time are inserted. Locking in one fixed order
    means two workers locking overlapping sets wait instead of deadlocking.
    """
    ids = sorted(set(node_ids))

    def locked(which: list[str]) -> list[Node]:
        q = select(Node).where(Node.node_id.in_(which)).order_by(Node.node_id).with_for_update()
        return list(session.execute(q).scalars())

    found = {n.node_id: (n, False) for n in locked(ids)}
    missing = [n for n in ids if n not in found]
    if missing:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [
            {
                "node_id": n,
                "epoch": 0,
                "acked_through": 0,
                "down_head": 0,
                "online": False,
                "first_seen": now,
                "last_seen": now,
            }
            for n in missing
        ]
        created = set(
            session.execute(
                insert(Node)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["node_id"])
                .returning(Node.node_id)
            ).scalars()
        )
        found.update({n.node_id: (n, n.node_id in created) for n in locked(missing)})
    return found


def station_kinds(session: Session, node_ids: list[str]) -> dict[str, str]:
    """Each node's station kind as its newest ``node.started`` said; nodes not heard from are absent."""
    newest = (
        select(Event.node_id, func.max(Event.seq).label("seq"))
        .where(Event.type == "node.started", Event.node_id.in_(node_ids))
        .group_by(Event.node_id)
        .subquery()
    )
    rows = session.execute(
        select(Event.node_id, Event.payload).join(
            newest, and_(Event.node_id == newest.c.node_id, Event.seq == newest.c.seq)
        )
    )
    return {node: str(payload.get("station_kind")) for node, payload in rows}
