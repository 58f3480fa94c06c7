"""Bytes <-> messages. JSON via orjson (chosen over msgpack by measurement:
docs/benchmarks.md, "codec").

Batches are decoded in two steps so one bad event cannot sink its neighbours:
the batch frame must be sound (JSON, schema version, node, contiguous
sequence numbers); each event inside is then validated on its own, and an
event that fails becomes a :class:`ParkedEvent` that carries its seq and the
reason, to be parked for review while the stream behind it flows on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from protocol.errors import RemoteProtocolError
from protocol.messages import (
    EVENT_ADAPTER,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_SEQ,
    SCHEMA_VERSION,
    Event,
    EventEnvelope,
    Message,
)

M = TypeVar("M", bound=Message)
_EVENTS_ADAPTER: TypeAdapter[list[Event]] = TypeAdapter(list[EventEnvelope])


def _explain(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def encode(msg: Message) -> bytes:
    return msg.__pydantic_serializer__.to_json(msg)


def decode(cls: type[M], data: bytes) -> M:
    """Decode one message of a known class; raise RemoteProtocolError saying why not."""
    if len(data) > MAX_BATCH_BYTES:
        raise RemoteProtocolError(f"message of {len(data)} bytes exceeds {MAX_BATCH_BYTES}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise RemoteProtocolError(f"not JSON: {err}") from None
    _check_version(obj)
    try:
        return cls.model_validate(obj)
    except ValidationError as err:
        raise RemoteProtocolError(f"bad {cls.__name__}: {_explain(err)}") from None


def _check_version(obj: object) -> None:
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    v = obj.get("v")
    if v != SCHEMA_VERSION:
        raise RemoteProtocolError(
            f"schema version {v!r} not supported (this side speaks {SCHEMA_VERSION})"
        )


# --- event batches ------------------------------------------------------------------------


def encode_event(event: Event) -> bytes:
    return encode(event)


def encode_batch(node: str, encoded_events: Sequence[bytes]) -> bytes:
    """Splice already-encoded events (as the outbox stores them) into one batch."""
    if not 1 <= len(encoded_events) <= MAX_BATCH_EVENTS:
        raise ValueError(f"a batch holds 1..{MAX_BATCH_EVENTS} events, not {len(encoded_events)}")
    head = b'{"v":%d,"node":%s,"events":[' % (SCHEMA_VERSION, orjson.dumps(node))
    return head + b",".join(encoded_events) + b"]}"


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event whose place in the stream is known (node, seq) but whose content is bad."""

    node: str
    seq: int
    raw: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class Batch:
    node: str
    events: tuple[Event | ParkedEvent, ...]
    #: The events as decoded JSON, in the same order (already validated where not parked):
    #: stores can keep these without serialising the models again.
    raw: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def first_seq(self) -> int:
        return self.events[0].seq

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq


def decode_batch(data: bytes, topic_node: str) -> Batch:
    """Decode an event batch received on ``topic_node``'s events topic.

    Raises RemoteProtocolError for a batch that cannot be placed in the
    node's stream at all; returns bad-but-placeable events as ParkedEvent.
    """
    if len(data) > MAX_BATCH_BYTES:
        raise RemoteProtocolError(f"batch of {len(data)} bytes exceeds {MAX_BATCH_BYTES}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise RemoteProtocolError(f"not JSON: {err}") from None
    _check_version(obj)
    node = obj.get("node")
    if node != topic_node:
        raise RemoteProtocolError(f"batch claims node {node!r} on the topic of node {topic_node!r}")
    raw_events = obj.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise RemoteProtocolError("batch has no events list")
    if len(raw_events) > MAX_BATCH_EVENTS:
        raise RemoteProtocolError(f"batch of {len(raw_events)} events exceeds {MAX_BATCH_EVENTS}")
    if set(obj) != {"v", "node", "events"}:
        extra = sorted(set(obj) - {"v", "node", "events"})
        raise RemoteProtocolError(f"batch has unknown fields {extra}")
    expected: int | None = None
    for i, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            raise RemoteProtocolError(f"event {i} is not an object")
        seq = raw.get("seq")
        # bool is an int in Python; a JSON true is not a sequence number.
        if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
            raise RemoteProtocolError(f"event {i} has no valid seq (1..2^63-1): {seq!r}")
        if expected is not None and seq != expected:
            raise RemoteProtocolError(f"event seq {seq} follows {expected - 1} in one batch")
        if raw.get("node") != topic_node:
            raise RemoteProtocolError(f"event seq {seq} claims node {raw.get('node')!r}")
        expected = seq + 1
    try:
        # The common case, all good, in one call into pydantic-core.
        events: list[Event | ParkedEvent] = list(_EVENTS_ADAPTER.validate_python(raw_events))
    except ValidationError:
        events = []
        for raw in raw_events:
            try:
                events.append(EVENT_ADAPTER.validate_python(raw))
            except ValidationError as err:
                events.append(ParkedEvent(topic_node, raw["seq"], raw, _explain(err)))
    return Batch(topic_node, tuple(events), tuple(raw_events))
