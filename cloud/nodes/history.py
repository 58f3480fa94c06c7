"""Each node's history of backlog, oldest unacked age and lag: one sample a minute at most.

Written where the node's status is recorded (cloud/sync/worker.py ``_record_state``), from
the row that update has loaded anyway: a status that comes within the same minute as the
node's last sample costs nothing more (``Node.sampled_at`` says so without a query). A node
reports its status every ``status_interval_s`` (10 s by default, edge/config.py), so about
one status in six writes a sample. Once an hour per node, the same update also deletes that
node's samples older than the retention (``GUANJIA_NODE_SAMPLE_RETENTION_DAYS``): a range on
the table's key, never a scan. Read by ``GET /api/v1/nodes/{id}/history`` and the fleet
page's per-node charts. No web code here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db.models import Node, NodeSample

T = TypeVar("T", int, float)


class Sampled(Protocol):
    """What a sample is taken from: a node's row (``Node``), or the plain row the ingest
    worker records statuses on (cloud/sync/presence.py); ``sampled_at`` is set here."""

    node_id: str
    online: bool
    sampled_at: datetime | None
    backlog: int | None
    oldest_unacked_age_s: float | None
    sync_lag_ms: int | None


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def due(node: Sampled, now: datetime, was_online: bool) -> bool:
    """Whether this status should write a sample: a new minute, or the node's presence
    changed (an offline status within the minute overwrites that minute's sample, so the
    chart ends where the node went away)."""
    if node.sampled_at is None or was_online != node.online:
        return True
    return minute_of(now) > minute_of(node.sampled_at)


def record(session: Session, node: Node, now: datetime, retention: timedelta) -> None:
    """:func:`record_many` for one node."""
    record_many(session, [node], now, retention)


#: Rows of one INSERT: 6 values each stays far below SQLite's 32,766 bound parameters.
CHUNK = 500


def record_many(
    session: Session, nodes: Iterable[Sampled], now: datetime, retention: timedelta
) -> None:
    """Write each node's current figures as its sample of this minute, and once an hour
    prune its samples older than ``retention``.

    One multi-row upsert on the key for the statuses of one transaction (so two workers
    handling one node in one minute still leave one row), not a statement per node: the
    nodes' own UPDATEs then stay one batch for the unit of work too. ``sampled_at`` is set
    before the statement runs: on a ``Node`` its autoflush writes it in each node's one
    UPDATE; on the ingest worker's plain rows, that worker's UPDATE does
    (cloud/sync/presence.py)."""
    rows: dict[str, dict[str, object]] = {}
    stale: list[str] = []
    at = minute_of(now)
    for node in nodes:
        before = node.sampled_at
        node.sampled_at = now
        rows[node.node_id] = {
            "node_id": node.node_id,
            "at": at,
            "online": bool(node.online),
            "backlog": node.backlog if node.online else None,
            "oldest_unacked_age_s": node.oldest_unacked_age_s if node.online else None,
            "sync_lag_ms": node.sync_lag_ms if node.online else None,
        }
        # Never sampled before: nothing to prune (sampled_at is set with the first sample).
        if before is not None and _hour(before) != _hour(now):
            stale.append(node.node_id)
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = list(rows.values())
    for i in range(0, len(values), CHUNK):
        stmt = insert(NodeSample).values(values[i : i + CHUNK])
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["node_id", "at"],
                set_={k: stmt.excluded[k] for k in _FIGURES},
            )
        )
    for i in range(0, len(stale), CHUNK):
        session.execute(
            delete(NodeSample).where(
                NodeSample.node_id.in_(stale[i : i + CHUNK]), NodeSample.at < now - retention
            )
        )


_FIGURES = ("online", "backlog", "oldest_unacked_age_s", "sync_lag_ms")


def prune(session: Session, before: datetime, node_id: str | None = None) -> int:
    """Delete samples older than ``before`` (of one node, or of all); returns how many."""
    q = delete(NodeSample).where(NodeSample.at < before)
    if node_id is not None:
        q = q.where(NodeSample.node_id == node_id)
    return session.execute(q).rowcount  # type: ignore[attr-defined, no-any-return]


@dataclass(frozen=True)
class Sample:
    at: datetime
    online: bool
    backlog: int | None
    oldest_unacked_age_s: float | None
    sync_lag_ms: int | None


def samples(session: Session, node_id: str, since: datetime) -> list[Sample]:
    """The node's samples from ``since`` on, oldest first (at most 20,160 rows: 14 days of
    minutes, the default retention). The caller has checked the node is the account's."""
    rows = session.execute(
        select(
            NodeSample.at,
            NodeSample.online,
            NodeSample.backlog,
            NodeSample.oldest_unacked_age_s,
            NodeSample.sync_lag_ms,
        )
        .where(NodeSample.node_id == node_id, NodeSample.at >= since)
        .order_by(NodeSample.at)
    ).all()
    return [Sample(*r) for r in rows]


def buckets(rows: list[Sample], start: datetime, width: timedelta) -> list[Sample]:
    """The worst of each ``width`` from ``start`` (highest backlog, age and lag; offline if
    the node was offline at any sample of it): the table beside the chart, one row per
    bucket that has samples, for people without script."""
    out: dict[int, Sample] = {}
    for r in rows:
        k = int((r.at - start) / width)
        prev = out.get(k)
        at = start + k * width
        if prev is None:
            out[k] = Sample(at, r.online, r.backlog, r.oldest_unacked_age_s, r.sync_lag_ms)
            continue
        out[k] = Sample(
            at,
            prev.online and r.online,
            _max(prev.backlog, r.backlog),
            _max(prev.oldest_unacked_age_s, r.oldest_unacked_age_s),
            _max(prev.sync_lag_ms, r.sync_lag_ms),
        )
    return [out[k] for k in sorted(out)]


def _max(a: T | None, b: T | None) -> T | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
