"""Nodes' statuses recorded on their rows, as plain rows: the node's presence (online, last
seen, software), its sync figures (backlog, last seq, oldest unacked age, alarm, devices)
and, once a minute, its history sample (cloud/nodes/history.py).

2,000 nodes report every 10 s (edge/config.py ``status_interval_s``). Loaded and flushed as
ORM objects, a status cost 227 µs of the hub's CPU on PostgreSQL (``python -m
cloud.bench.status_cost``), 5 % of the hub at fan-in (py-spy, issue 20): the rows are
read as tuples of the four columns a status needs and written with one UPDATE run for all
(the driver's executemany), as the node cursors of a batch are (cloud/sync/ingest.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from cloud.db.models import Node
from cloud.nodes import history
from protocol.messages import NodeState

log = logging.getLogger("guanjia.cloud.ingest")

_NODE = Node.__table__
_COLUMN = _NODE.c

#: What a status reads of its node (what the history samples, and what says it is due).
_READ = select(
    Node.node_id,
    Node.online,
    Node.sampled_at,
    Node.sync_lag_ms,
    Node.backlog,
    Node.oldest_unacked_age_s,
)

#: A status's writes: the software only when it names one, the sample time only when a
#: sample is written (both kept otherwise); each parameter typed as its column.
_PRESENCE = {
    "online": bindparam("p_online"),
    "last_seen": bindparam("p_seen"),
    "software": func.coalesce(
        bindparam("p_software", type_=_COLUMN.software.type), _COLUMN.software
    ),
    "sampled_at": func.coalesce(
        bindparam("p_sampled", type_=_COLUMN.sampled_at.type), _COLUMN.sampled_at
    ),
}
_WHERE = _COLUMN.node_id == bindparam("p_id")
#: A status without figures (offline, or a node that sends none): its presence only.
_WRITE_PRESENCE = update(_NODE).where(_WHERE).values(**_PRESENCE)  # type: ignore[arg-type]
#: An online status with its figures.
_WRITE_FULL = (
    update(_NODE)  # type: ignore[arg-type]
    .where(_WHERE)
    .values(
        **_PRESENCE,
        last_seq=bindparam("p_last_seq"),
        backlog=bindparam("p_backlog"),
        oldest_unacked_age_s=bindparam("p_oldest"),
        alarm=bindparam("p_alarm"),
        status_at=bindparam("p_status_at"),
        devices=bindparam("p_devices"),
    )
)


@dataclass(slots=True)
class Seen:
    """A node as its statuses leave it (what :mod:`cloud.nodes.history` samples)."""

    node_id: str
    online: bool
    sampled_at: datetime | None
    sync_lag_ms: int | None
    backlog: int | None
    oldest_unacked_age_s: float | None
    software: str | None = None
    last_seq: int | None = None
    alarm: str | None = None
    status_at: datetime | None = None
    devices: list[dict[str, Any]] | None = None
    #: The figures came (an online status with a backlog): written; else kept as they are.
    full: bool = False


def record(
    session: Session, states: Iterable[NodeState], now: datetime, retention: timedelta
) -> None:
    """Record ``states`` (in order; a node's later status over its earlier) on their nodes
    in ``session``'s transaction. A node not enrolled yet is skipped: its status comes
    again after its first pull."""
    states = list(states)
    seen = {
        r.node_id: Seen(
            r.node_id,
            bool(r.online),
            r.sampled_at,
            r.sync_lag_ms,
            r.backlog,
            r.oldest_unacked_age_s,
        )
        for r in session.execute(_READ.where(Node.node_id.in_({st.node for st in states})))
    }
    due: dict[str, Seen] = {}
    for state in states:
        node = seen.get(state.node)
        if node is None:
            continue
        was_online = node.online
        node.online = state.online
        if state.software:
            node.software = state.software
        if state.online and state.backlog is not None:
            node.full = True
            node.last_seq = state.last_seq
            node.backlog = state.backlog
            node.oldest_unacked_age_s = state.oldest_unacked_age_s
            node.alarm = state.alarm
            node.status_at = now
            node.devices = [d.model_dump(mode="json") for d in state.devices]
            if state.alarm:
                log.error("node %s alarm: %s", state.node, state.alarm)
        if history.due(node, now, was_online):
            due[node.node_id] = node
    # The history first: it sets each sampled node's sampled_at, written below.
    history.record_many(session, due.values(), now, retention)
    full: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for n in seen.values():
        row = {
            "p_id": n.node_id,
            "p_online": n.online,
            "p_seen": now,
            "p_software": n.software,
            "p_sampled": n.sampled_at if n.node_id in due else None,
        }
        if n.full:
            full.append(row | _figures(n))
        else:
            bare.append(row)
    if full:
        session.execute(_WRITE_FULL, full)
    if bare:
        session.execute(_WRITE_PRESENCE, bare)


def _figures(n: Seen) -> dict[str, Any]:
    return {
        "p_last_seq": n.last_seq,
        "p_backlog": n.backlog,
        "p_oldest": n.oldest_unacked_age_s,
        "p_alarm": n.alarm,
        "p_status_at": n.status_at,
        "p_devices": n.devices,
    }
