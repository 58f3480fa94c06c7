"""Applying edge event batches: exactly once per (node, seq), in one transaction.

The rules (docs/sync.md, "Upstream"):

* Events at or below the node's ``acked_through`` are duplicates: ignored.
* A batch that starts beyond ``acked_through + 1`` leaves a gap: nothing is
  applied, and the answer asks the node to resend from ``acked_through + 1``.
* Events inside the batch are contiguous (the codec checks), so a batch that
  overlaps the cursor applies only its new tail.
* A malformed event whose seq is known is parked for review and counts as
  applied, so the stream behind it flows.
* ``acked_through`` moves in the same transaction as the rows it covers.
* A batch the database refuses for its own content (an event id that another node's or
  seq's event already has: ids are unique across nodes) is applied again with those
  events parked (:func:`refused`), so one node's poison never stops the others (issue 19,
  finding 1; the worker isolates it first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from cloud import facts
from cloud.catalogue import nodes as node_catalogue
from cloud.db.bulk import insert_rows
from cloud.db.models import Event as EventRow
from cloud.db.models import IngestRejection, Node
from cloud.db.models import ParkedEvent as ParkedEventRow
from cloud.nodes.registry import Cursor, lock_cursors, lock_nodes
from cloud.sync import locks
from protocol.codec import Batch
from protocol.hlc import LOGICAL_BITS, unpack
from protocol.messages import Ack, DownBatch, Event


@dataclass
class ApplyResult:
    node: str
    acked_through: int
    applied: int = 0
    duplicates: int = 0
    resend_from: int | None = None
    parked: list[int] = field(default_factory=list)
    suspect_clock: int = 0

    def ack(self) -> Ack:
        return Ack(
            node=self.node,
            acked_through=self.acked_through,
            resend_from=self.resend_from,
            parked=self.parked,
        )


def apply_batch(
    session: Session, batch: Batch, now: datetime, skew_flag_s: float = 300.0
) -> ApplyResult:
    """Apply one batch (see :func:`apply_batches`)."""
    return apply_batches(session, {batch.node: [batch]}, now, skew_flag_s)[batch.node][0]


#: Event types that are facts for the business (orders, stock); scans and starts are not.
_FACT_TYPES = frozenset(
    {
        "order.picked",
        "order.packed",
        "order.weighed",
        "order.labelled",
        "waybill.pool_used",
        "waybill.pool_released",
        "serial.label_printed",
        "stocktake.counted",
        "po.received",
        "return.received",
        "transfer.received",
        "transfer.shipped",
    }
)


#: An event as stored: node, seq, id, epoch, hlc, type, payload (JSON as received), clock suspect.
_Row = tuple[str, int, str, int, int, str, Any, bool]


def apply_batches(
    session: Session, groups: dict[str, list[Batch]], now: datetime, skew_flag_s: float = 300.0
) -> dict[str, list[ApplyResult]]:
    """Apply the batches of several nodes in the caller's transaction.

    Set-based, so a group costs a handful of statements whatever its size: lock
    (or create) every node at once, one insert for all events, one for parked
    events, and the node rows flushed together. Per node, its batches apply in
    order, each exactly as :func:`apply_batch` would alone.
    """
    # Documents, then nodes, then serials: the order every writer locks in
    # (cloud/sync/locks.py), so two nodes' receipts of one document cannot deadlock.
    ahead = locks.documents(session, groups)
    nodes = lock_cursors(session, [*groups, *ahead.nodes], now)
    locks.serials(session, ahead)
    now_ms = int(now.timestamp() * 1000)
    rows: list[_Row] = []
    parked: list[dict[str, Any]] = []
    facts_of: dict[str, list[Event]] = {}
    out: dict[str, list[ApplyResult]] = {}
    for node_id in sorted(groups):
        node, created = nodes[node_id]
        if created:
            assert isinstance(node, Node)  # a created node is an ORM object (lock_cursors)
            node_catalogue.seed_new_node(session, node, now)
        node.last_seen = now
        out[node_id] = [
            _apply_one(node, b, now, now_ms, skew_flag_s, rows, parked, facts_of)
            for b in groups[node_id]
        ]
    _save_cursors(session, [nodes[n][0] for n in sorted(groups)])
    if rows:
        _insert_events(session, rows, now)
    if parked:
        insert_rows(session, ParkedEventRow, parked)
    for node_id, events in facts_of.items():
        # Same transaction: the facts' effects commit with the events, or neither does.
        facts.apply_facts(session, node_id, events, now)
    return out


#: On PostgreSQL, the nodes of a group in one statement, their values as one JSON
#: parameter: one text whatever the group's size, so it is planned and cached once (a
#: VALUES list of N rows would be a new statement per N). JSON rather than ``unnest`` of
#: five arrays: psycopg builds an array parameter element by element in Python, half of
#: this statement's CPU (py-spy, issue 20), where orjson writes the lot in C.
_SAVE_CURSORS_PG = text(
    "UPDATE node SET epoch = v.epoch, acked_through = v.acked_through,"
    " sync_lag_ms = v.sync_lag_ms, last_seen = v.last_seen"
    " FROM json_to_recordset(CAST(:rows AS json))"
    " AS v(node_id text, epoch bigint, acked_through bigint, sync_lag_ms bigint,"
    " last_seen timestamptz)"
    " WHERE node.node_id = v.node_id"
)

#: Elsewhere (SQLite: in-process, cheap per statement) one UPDATE run for every node
#: (the driver's executemany).
_SAVE_CURSORS = (
    update(Node.__table__)  # type: ignore[arg-type]
    .where(Node.__table__.c.node_id == bindparam("c_id"))
    .values(
        epoch=bindparam("c_epoch"),
        acked_through=bindparam("c_acked"),
        sync_lag_ms=bindparam("c_lag"),
        last_seen=bindparam("c_seen"),
    )
)


def _save_cursors(session: Session, touched: list[Cursor | Node]) -> None:
    """Write the group's nodes' cursors (epoch, acked through, lag, last seen).

    The nodes are locked (``lock_cursors``), so the values read and written are this
    transaction's. The cursors read as plain :class:`Cursor` tuples are written here in one
    statement, instead of the unit of work's UPDATE per node and its bookkeeping: at 2,000
    nodes sending one event at a time, ORM node rows (load, flush) were a fifth of the hub's
    CPU (issue 20). Nodes that are ORM objects (created in this group, or already in the
    session) are flushed by the unit of work as before.
    """
    plain = [n for n in touched if isinstance(n, Cursor)]
    if not plain:
        return
    if session.get_bind().dialect.name == "postgresql":
        rows = [
            {
                "node_id": n.node_id,
                "epoch": n.epoch,
                "acked_through": n.acked_through,
                "sync_lag_ms": n.sync_lag_ms,
                "last_seen": n.last_seen,
            }
            for n in plain
        ]
        session.execute(_SAVE_CURSORS_PG, {"rows": orjson.dumps(rows).decode()})
        return
    session.execute(
        _SAVE_CURSORS,
        [
            {
                "c_id": n.node_id,
                "c_epoch": n.epoch,
                "c_acked": n.acked_through,
                "c_lag": n.sync_lag_ms,
                "c_seen": n.last_seen,
            }
            for n in plain
        ],
    )


def clock_window(sent_ms: int | None, now_ms: int, limit_ms: float) -> tuple[float, float]:
    """The wall times (ms) an event's HLC may show and not be flagged ``clock_suspect``.

    A batch that says when it was sent (``sent_ms``, the node's wall clock at publish)
    lets the hub judge the node's clock by that, against its own at arrival: a batch
    passes through the broker in well under a second when the hub is up (nodes publish
    only then, docs/sync.md), so a send time more than ``limit_ms`` away from now is a
    wrong clock and every event of the batch is suspect. With a right clock, an event
    is suspect only if stamped more than ``limit_ms`` *after* the batch was sent (written
    while the clock was ahead, then corrected); an old event is a late one (a partition,
    a node that was off), not a wrong clock. Judging each event by its age at arrival
    flagged 7,270 of 8,000 events delivered after a 15-minute partition (issue 19,
    docs/chaos.md).

    A batch without ``sent_ms`` (a node older than the field) is judged as before:
    each event's HLC against the hub's clock at arrival.
    """
    if sent_ms is None:
        return now_ms - limit_ms, now_ms + limit_ms
    if abs(sent_ms - now_ms) > limit_ms:
        return 1.0, 0.0  # an empty window: the node's clock is off now
    return float("-inf"), sent_ms + limit_ms


def _apply_one(
    node: Cursor | Node,
    batch: Batch,
    now: datetime,
    now_ms: int,
    skew_flag_s: float,
    rows: list[_Row],
    parked: list[dict[str, Any]],
    facts_of: dict[str, list[Event]],
) -> ApplyResult:
    through = node.acked_through
    result = ApplyResult(batch.node, through)
    if batch.first_seq > through + 1:
        result.resend_from = through + 1
        return result
    # The batch's JSON as decoded: for a valid event its envelope is exactly what the model
    # would hold (protocol.codec.Batch), so no model is built, except for facts.
    lo_ms, hi_ms = clock_window(batch.sent_ms, now_ms, skew_flag_s * 1000)
    reasons = batch.reasons
    node_id = batch.node
    newest: _Row | None = None
    for i, ev in enumerate(batch.raw):
        seq = ev["seq"]
        if seq <= through:
            result.duplicates += 1
            continue
        if i in reasons:
            parked.append(
                {
                    "node_id": node_id,
                    "seq": seq,
                    "raw": ev,
                    "reason": reasons[i],
                    "received_at": now,
                    "resolved": False,
                }
            )
            result.parked.append(seq)
            continue
        kind = ev["type"]
        suspect = not lo_ms <= ev["hlc"] >> LOGICAL_BITS <= hi_ms
        result.suspect_clock += suspect
        newest = (node_id, seq, ev["id"], ev["epoch"], ev["hlc"], kind, ev["payload"], suspect)
        rows.append(newest)
        if kind in _FACT_TYPES:
            facts_of.setdefault(node_id, []).append(batch.event(i))
        if kind == "node.started" or ev["epoch"] > node.epoch:
            node.epoch = max(node.epoch, ev["epoch"])
    result.applied = len(batch.raw) - result.duplicates - len(result.parked)
    if newest is not None and not newest[7]:
        node.sync_lag_ms = max(0, now_ms - unpack(newest[4])[0])
    if batch.last_seq > through:
        node.acked_through = batch.last_seq
    result.acked_through = node.acked_through
    return result


#: The columns of an event row, in the order of :data:`_Row`.
_COLUMNS = (
    "node_id",
    "seq",
    "event_id",
    "epoch",
    "hlc",
    "type",
    "payload",
    "clock_suspect",
)


def _insert_events(session: Session, rows: list[_Row], now: datetime) -> None:
    # Tuples, not dicts: the cheapest rows to build for the one bulk path (COPY on
    # PostgreSQL, the driver's executemany on SQLite).
    insert_rows(session, EventRow, rows, _COLUMNS, same={"received_at": now})


def record_rejection(
    session: Session, topic: str, node: str | None, reason: str, size: int
) -> None:
    session.add(
        IngestRejection(
            topic=topic, node_id=node, reason=reason, size=size, received_at=datetime.now(UTC)
        )
    )


def hello(session: Session, node_id: str, after: int, now: datetime) -> tuple[Ack, DownBatch]:
    """A node's pull/hello: its current ack and the downlink it has not applied."""
    return hellos(session, {node_id: after}, now)[node_id]


def hellos(
    session: Session, pulls: dict[str, int], now: datetime
) -> dict[str, tuple[Ack, DownBatch]]:
    """:func:`hello` for many nodes in the caller's transaction, set-based: the nodes are
    locked (or created) in one statement, new ones seeded together, and the downlink is
    read only for a node whose log has something beyond its cursor (after a hub restart
    hundreds of nodes say hello with nothing to fetch)."""
    nodes = lock_nodes(session, list(pulls), now)
    node_catalogue.seed_new_nodes(session, [n for n, created in nodes.values() if created], now)
    out: dict[str, tuple[Ack, DownBatch]] = {}
    for node_id in sorted(pulls):
        node, _ = nodes[node_id]
        node.last_seen = now
        after = pulls[node_id]
        down = (
            node_catalogue.downlink_after(session, node, after)
            if node.down_head > after
            else DownBatch(node=node_id, changes=[], head=node.down_head, after=after)
        )
        out[node_id] = (Ack(node=node_id, acked_through=node.acked_through), down)
    return out


#: What the database refuses for a batch's own content, the same at every retry (unlike a
#: lost connection or a lock timeout): a unique key taken, a value out of a column's range.
REFUSED = (IntegrityError, DataError)


def refused(
    session: Session, batches: list[Batch], error: Exception, *, everything: bool = False
) -> list[Batch]:
    """One node's ``batches`` with the events the database refused marked to be parked.

    An event whose id is already stored under another (node, seq), or repeats an id earlier
    in these batches, is marked with where that id is. With ``everything`` (or when no such
    event explains ``error``) every event not yet marked is, with the database's own
    reason: parked events keep their JSON for review, and the stream behind them flows.
    Reads only; the caller applies the batches again in a transaction of its own.
    """
    marks: list[dict[int, str]] = [{} for _ in batches]
    if not everything:
        ids = list(
            dict.fromkeys(
                ev["id"] for b in batches for i, ev in enumerate(b.raw) if i not in b.reasons
            )
        )
        stored: dict[str, tuple[str, int]] = {}
        for at in range(0, len(ids), 500):
            rows = session.execute(
                select(EventRow.event_id, EventRow.node_id, EventRow.seq).where(
                    EventRow.event_id.in_(ids[at : at + 500])
                )
            )
            stored.update({eid: (node, seq) for eid, node, seq in rows})
        seen: dict[str, int] = {}
        for b, mark in zip(batches, marks, strict=True):
            for i, ev in enumerate(b.raw):
                if i in b.reasons:
                    continue
                eid, seq = ev["id"], ev["seq"]
                where = stored.get(eid)
                if where is not None and where != (b.node, seq):
                    mark[i] = f"event id {eid} is already stored as {where[0]} seq {where[1]}"
                elif eid in seen and seen[eid] != seq:
                    mark[i] = f"event id {eid} repeats that of seq {seen[eid]}"
                seen.setdefault(eid, seq)
    if not any(marks):
        why = str(getattr(error, "orig", error)).strip().splitlines()[0][:300]
        marks = [
            {
                i: f"the database refused the batch: {why}"
                for i in range(len(b.raw))
                if i not in b.reasons
            }
            for b in batches
        ]
    return [
        Batch(b.node, raw=b.raw, reasons={**b.reasons, **mark}, sent_ms=b.sent_ms) if mark else b
        for b, mark in zip(batches, marks, strict=True)
    ]
