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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session

from cloud import catalogue, facts
from cloud.models import Event, IngestRejection, Node, ParkedEvent
from cloud.nodes import lock_node, lock_nodes
from protocol.codec import Batch
from protocol.codec import ParkedEvent as BadEvent
from protocol.hlc import skew_ms, unpack
from protocol.messages import Ack, DownBatch, NodeStarted


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
    {"order.picked", "order.packed", "order.weighed", "order.labelled", "stocktake.counted"}
)


def apply_batches(
    session: Session, groups: dict[str, list[Batch]], now: datetime, skew_flag_s: float = 300.0
) -> dict[str, list[ApplyResult]]:
    """Apply the batches of several nodes in the caller's transaction.

    Set-based, so a group costs a handful of statements whatever its size: lock
    (or create) every node at once, one insert for all events, one for parked
    events, and the node rows flushed together. Per node, its batches apply in
    order, each exactly as :func:`apply_batch` would alone.
    """
    nodes = lock_nodes(session, list(groups), now)
    now_ms = int(now.timestamp() * 1000)
    rows: list[dict[str, Any]] = []
    parked: list[dict[str, Any]] = []
    facts_of: dict[str, list[Any]] = {}
    out: dict[str, list[ApplyResult]] = {}
    for node_id in sorted(groups):
        node, created = nodes[node_id]
        if created:
            catalogue.seed_new_node(session, node, now)
        node.last_seen = now
        out[node_id] = [
            _apply_one(node, b, now, now_ms, skew_flag_s, rows, parked, facts_of)
            for b in groups[node_id]
        ]
    if rows:
        _insert_events(session, rows)
    if parked:
        session.connection().execute(insert(ParkedEvent.__table__), parked)
    for node_id, events in facts_of.items():
        # Same transaction: the facts' effects commit with the events, or neither does.
        facts.apply_facts(session, node_id, events, now)
    return out


def _apply_one(
    node: Node,
    batch: Batch,
    now: datetime,
    now_ms: int,
    skew_flag_s: float,
    rows: list[dict[str, Any]],
    parked: list[dict[str, Any]],
    facts_of: dict[str, list[Any]],
) -> ApplyResult:
    through = node.acked_through
    result = ApplyResult(batch.node, through)
    if batch.first_seq > through + 1:
        result.resend_from = through + 1
        return result
    newest: dict[str, Any] | None = None
    for ev, raw in zip(batch.events, batch.raw or [None] * len(batch.events), strict=True):
        if ev.seq <= through:
            result.duplicates += 1
            continue
        if isinstance(ev, BadEvent):
            parked.append(
                {
                    "node_id": ev.node,
                    "seq": ev.seq,
                    "raw": ev.raw,
                    "reason": ev.reason,
                    "received_at": now,
                    "resolved": False,
                }
            )
            result.parked.append(ev.seq)
            continue
        suspect = abs(skew_ms(ev.hlc, now_ms)) > skew_flag_s * 1000
        result.suspect_clock += suspect
        newest = {
            "node_id": ev.node,
            "seq": ev.seq,
            "event_id": str(ev.id),
            "epoch": ev.epoch,
            "hlc": ev.hlc,
            "type": ev.type,
            # The validated JSON as received: no need to serialise the model again.
            "payload": raw["payload"] if raw is not None else ev.payload.model_dump(mode="json"),
            "received_at": now,
            "clock_suspect": suspect,
        }
        rows.append(newest)
        result.applied += 1
        if ev.type in _FACT_TYPES:
            facts_of.setdefault(node.node_id, []).append(ev)
        if isinstance(ev, NodeStarted) or ev.epoch > node.epoch:
            node.epoch = max(node.epoch, ev.epoch)
    if newest is not None and not newest["clock_suspect"]:
        node.sync_lag_ms = max(0, now_ms - unpack(int(newest["hlc"]))[0])
    if batch.last_seq > through:
        node.acked_through = batch.last_seq
    result.acked_through = node.acked_through
    return result


_COLUMNS = (
    "node_id",
    "seq",
    "event_id",
    "epoch",
    "hlc",
    "type",
    "payload",
    "received_at",
    "clock_suspect",
)


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # COPY is PostgreSQL's bulk path: several times faster than multi-row INSERTs for a
        # batch of events. It runs on the session's own connection, inside its transaction.
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY event ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
        ):
            for r in rows:
                copy.write_row(
                    (
                        *(r[c] for c in _COLUMNS[:6]),
                        orjson.dumps(r["payload"]).decode(),
                        r["received_at"],
                        r["clock_suspect"],
                    )
                )
        return
    # Core insert on the table: the ORM's bulk path costs more than the insert itself.
    conn.execute(insert(Event.__table__), rows)


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
    node, created = lock_node(session, node_id, now)
    if created:
        catalogue.seed_new_node(session, node, now)
    node.last_seen = now
    return Ack(node=node_id, acked_through=node.acked_through), catalogue.downlink_after(
        session, node, after
    )
