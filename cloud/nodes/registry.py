"""Edge nodes as the hub knows them: registration and presence. No web code here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

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


@dataclass(slots=True)
class Cursor:
    """A node's ingest cursor as read under its row lock: what applying a batch reads and
    writes of the node, without an ORM object (see :func:`lock_cursors`)."""

    node_id: str
    epoch: int
    acked_through: int
    sync_lag_ms: int | None
    last_seen: datetime | None = None


#: The node columns :func:`lock_cursors` reads, in :class:`Cursor`'s order.
_CURSOR_READ = (Node.node_id, Node.epoch, Node.acked_through, Node.sync_lag_ms)

#: The same on PostgreSQL, the ids as one JSON array: one statement text whatever the
#: group's size. An expanding ``IN`` is a new text for every count of nodes, and psycopg
#: parses each new text afresh (``_split_query``: a third of the lock's CPU, py-spy).
_LOCK_CURSORS_PG = text(
    "SELECT node_id, epoch, acked_through, sync_lag_ms FROM node"
    " WHERE node_id IN (SELECT json_array_elements_text(CAST(:ids AS json)))"
    " ORDER BY node_id FOR UPDATE"
)


def lock_cursors(
    session: Session, node_ids: list[str], now: datetime
) -> dict[str, tuple[Cursor | Node, bool]]:
    """:func:`lock_nodes` for the ingest of event batches: the same row locks, in the same
    one statement and id order, but the known nodes' cursors come back as plain
    :class:`Cursor` tuples, not ORM objects, and are written back by the caller in one
    statement (cloud/sync/ingest.py ``_save_cursors``). At 2,000 nodes sending one event at
    a time, loading a group's nodes as ORM objects and flushing them through the unit of
    work was a fifth of the hub's CPU (py-spy, issue 20).

    A node the session already holds as an ORM object comes back as that object (its
    in-session values are the ones to go on from, as with :func:`lock_nodes`), and so does
    a node created here (its catalogue is seeded through the ORM); the unit of work writes
    those as before.
    """
    ids = sorted(set(node_ids))
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_LOCK_CURSORS_PG, {"ids": orjson.dumps(ids).decode()})
    else:
        rows = session.execute(
            select(*_CURSOR_READ)
            .where(Node.node_id.in_(ids))
            .order_by(Node.node_id)
            .with_for_update()
        )
    found: dict[str, tuple[Cursor | Node, bool]] = {}
    held = session.identity_map
    for node_id, epoch, acked, lag in rows:
        orm = held.get(identity_key(Node, node_id)) if held else None
        found[node_id] = (orm if orm is not None else Cursor(node_id, epoch, acked, lag), False)
    if missing := [n for n in ids if n not in found]:
        found.update(lock_nodes(session, missing, now))
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
