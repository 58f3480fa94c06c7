"""Edge nodes as the hub knows them: registration and presence. No web code here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.models import Node


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
