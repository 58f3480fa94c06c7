"""Bytes <-> messages. JSON via orjson (chosen over msgpack by measurement:
docs/benchmarks.md, "codec").

Batches are decoded in two steps so one bad event cannot sink its neighbours:
the batch frame must be sound (JSON, schema version, node, contiguous
sequence numbers); each event inside is then validated on its own, and an
event that fails becomes a :class:`ParkedEvent` that carries its seq and the
reason, to be parked for review while the stream behind it flows on. A sound
batch, the common case, is checked in one strict pass that builds no models
(:class:`Batch` keeps the JSON; a store needs nothing else).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import orjson
from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema

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
    # An integer, exactly: in Python ``True == 1`` and ``1.0 == 1``, so ``"v": true`` and
    # ``"v": 1.0`` passed as version 1 (issue 19, finding 6). JSON has one number type
    # (RFC 8259 §6) but our encoders write the version as an integer literal.
    if type(v) is not int or v != SCHEMA_VERSION:
        raise RemoteProtocolError(
            f"schema version {v!r} not supported (this side speaks {SCHEMA_VERSION})"
        )


# --- event batches ------------------------------------------------------------------------


def encode_event(event: Event) -> bytes:
    return encode(event)


#: The largest ``sent_ms``: the physical part of an HLC timestamp (protocol/hlc.py), 47 bits.
MAX_SENT_MS: Final = (1 << 47) - 1


def encode_batch(node: str, encoded_events: Sequence[bytes], sent_ms: int | None = None) -> bytes:
    """Splice already-encoded events (as the outbox stores them) into one batch.

    ``sent_ms``: the node's wall clock at publish, in Unix milliseconds, read by the caller
    (this module takes no clock). The hub judges the node's clock by it, not by how old
    each event is when it arrives (:func:`decode_batch`); ``None`` leaves it out, as
    batches of nodes older than the field were.
    """
    if not 1 <= len(encoded_events) <= MAX_BATCH_EVENTS:
        raise ValueError(f"a batch holds 1..{MAX_BATCH_EVENTS} events, not {len(encoded_events)}")
    if sent_ms is None:
        head = b'{"v":%d,"node":%s,"events":[' % (SCHEMA_VERSION, orjson.dumps(node))
    else:
        _check_sent_ms(sent_ms, ValueError)
        head = b'{"v":%d,"node":%s,"sent_ms":%d,"events":[' % (
            SCHEMA_VERSION,
            orjson.dumps(node),
            sent_ms,
        )
    return head + b",".join(encoded_events) + b"]}"


def _check_sent_ms(sent_ms: object, error: type[Exception]) -> None:
    # bool is an int in Python; a JSON true is no time. Negative: before 1970, no clock.
    if type(sent_ms) is not int or not 0 <= sent_ms <= MAX_SENT_MS:
        raise error(f"batch sent_ms must be an integer 0..{MAX_SENT_MS}, not {sent_ms!r}")


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event whose place in the stream is known (node, seq) but whose content is bad."""

    node: str
    seq: int
    raw: dict[str, Any]
    reason: str


class Batch:
    """One node's event batch, every event placed in its stream: valid, or to be parked.

    ``raw`` holds each event as decoded JSON, in order; ``reasons`` maps the index of
    each malformed event to why it cannot be used; ``sent_ms`` is the node's wall clock
    when it published the batch (``None`` from a node that does not say). Every other
    event is valid, and its envelope fields (``node``, ``seq``, ``epoch``, ``id``,
    ``hlc``, ``type``) hold exactly what its model holds (``id`` as canonical text), so a
    store can keep the JSON as it came without building models. ``events`` are the typed models, built on first use;
    :meth:`event` builds one.
    """

    __slots__ = ("_events", "node", "raw", "reasons", "sent_ms")

    def __init__(
        self,
        node: str,
        events: Sequence[Event | ParkedEvent] | None = None,
        *,
        raw: Sequence[dict[str, Any]] | None = None,
        reasons: Mapping[int, str] | None = None,
        sent_ms: int | None = None,
    ) -> None:
        self.node = node
        self.sent_ms = sent_ms
        self._events = None if events is None else tuple(events)
        if raw is None:
            if self._events is None:
                raise ValueError("a batch needs its events or their raw JSON")
            # Built from models (a test, a tool): their JSON is what a node would send.
            raw = [
                e.raw if isinstance(e, ParkedEvent) else e.model_dump(mode="json")
                for e in self._events
            ]
            reasons = {
                i: e.reason for i, e in enumerate(self._events) if isinstance(e, ParkedEvent)
            }
        if not raw:
            raise ValueError("a batch holds at least one event")
        self.raw: tuple[dict[str, Any], ...] = tuple(raw)
        self.reasons: Mapping[int, str] = reasons or {}

    @property
    def events(self) -> tuple[Event | ParkedEvent, ...]:
        if self._events is None:
            self._events = tuple(
                ParkedEvent(self.node, r["seq"], r, self.reasons[i])
                if i in self.reasons
                else EVENT_ADAPTER.validate_python(r)
                for i, r in enumerate(self.raw)
            )
        return self._events

    def event(self, i: int) -> Event:
        """The model of valid event ``i`` (only that one is built)."""
        if i in self.reasons:
            raise ValueError(f"event {i} of the batch is malformed: {self.reasons[i]}")
        if self._events is not None:
            ev = self._events[i]
            assert not isinstance(ev, ParkedEvent)
            return ev
        return EVENT_ADAPTER.validate_python(self.raw[i])

    @property
    def first_seq(self) -> int:
        seq: int = self.raw[0]["seq"]
        return seq

    @property
    def last_seq(self) -> int:
        seq: int = self.raw[-1]["seq"]
        return seq

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return (
            self.node == other.node
            and self.sent_ms == other.sent_ms
            and self.events == other.events
        )

    __hash__ = None  # type: ignore[assignment]  # equal by content, built lazily

    def __repr__(self) -> str:
        return f"Batch(node={self.node!r}, seqs={self.first_seq}..{self.last_seq}, parked={sorted(self.reasons)})"


#: The canonical text of a UUID, as ``str(uuid.UUID(...))`` writes it.
_CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: Core-schema types the event models are made of; :func:`_as_typed_dicts` refuses others,
#: so a model that grows a validator or a new kind of field cannot pass the fast check
#: unchecked (the model path would be right, the fast path silently different).
_PLAIN_TYPES = frozenset(
    {
        "bool",
        "default",
        "definition-ref",
        "definitions",
        "int",
        "list",
        "literal",
        "nullable",
        "str",
        "tagged-union",
        "union",
    }
)

#: Model settings and field keys that change nothing in what validation accepts or returns
#: (a setting such as ``str_strip_whitespace`` or a validation alias would).
_MODEL_CONFIG = frozenset({"title", "extra_fields_behavior"})
_FIELD_KEYS = frozenset(
    {"type", "schema", "metadata", "frozen", "serialization_exclude", "serialization_exclude_if"}
)
#: Keys of those schemas that hold schemas: one, a list, tag -> schema, (schema, label).
_SCHEMA_KEYS = frozenset({"schema", "items_schema", "choices", "definitions"})


def _as_typed_dicts(schema: Mapping[str, Any]) -> core_schema.CoreSchema:
    """The events' core schema with every model as a typed dict and ``id`` as canonical text.

    The same fields, constraints and defaults, but validation builds no objects. With
    ``strict=True`` (no coercion) whatever it accepts the models accept with the very same
    values, so a batch that passes needs no models at all; one that fails takes the model
    path, which says why.
    """
    kind = schema["type"]
    if kind == "model":
        fields = schema["schema"]
        if (
            fields["type"] != "model-fields"
            or fields.get("computed_fields")
            or fields.get("model_validators")
            or schema.get("custom_init")
            or schema.get("root_model")
            or schema.get("post_init")
            or not set(schema.get("config", {})) <= _MODEL_CONFIG
            or any(not set(f) <= _FIELD_KEYS for f in fields["fields"].values())
        ):
            raise TypeError(f"{schema['cls'].__name__}: no typed-dict twin for this model")
        return core_schema.typed_dict_schema(
            {
                name: core_schema.typed_dict_field(
                    _as_typed_dicts(f["schema"]),
                    required=f["schema"]["type"] != "default",
                )
                for name, f in fields["fields"].items()
            },
            extra_behavior=schema.get("config", {}).get("extra_fields_behavior"),
            ref=schema.get("ref"),
        )
    if kind == "uuid":
        return core_schema.str_schema(pattern=_CANONICAL_UUID)
    if kind not in _PLAIN_TYPES:
        raise TypeError(f"no typed-dict twin for core schema {kind!r}: see _as_typed_dicts")
    same = {k: _inner(v) if k in _SCHEMA_KEYS else v for k, v in schema.items()}
    return cast(core_schema.CoreSchema, same)


def _inner(value: Any) -> Any:
    if isinstance(value, list):
        return [_inner(v) for v in value]
    if isinstance(value, tuple):  # a union choice with its label
        return (_inner(value[0]), *value[1:])
    if "type" in value:
        return _as_typed_dicts(value)
    return {tag: _as_typed_dicts(s) for tag, s in value.items()}


_EVENTS_ADAPTER: TypeAdapter[list[Event]] = TypeAdapter(list[EventEnvelope])
_EVENTS_PLAIN = SchemaValidator(core_schema.list_schema(_as_typed_dicts(EVENT_ADAPTER.core_schema)))


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
    if not set(obj) <= _BATCH_FIELDS:
        extra = sorted(set(obj) - _BATCH_FIELDS)
        raise RemoteProtocolError(f"batch has unknown fields {extra}")
    # Optional: batches of nodes older than the field have none (the hub then judges each
    # event's clock by its age at arrival, as before).
    sent_ms: int | None = None
    if "sent_ms" in obj:
        _check_sent_ms(obj["sent_ms"], RemoteProtocolError)
        sent_ms = obj["sent_ms"]
    batch = _decode_sound(raw_events, topic_node, sent_ms)
    return batch if batch is not None else _decode_checked(raw_events, topic_node, sent_ms)


_BATCH_FIELDS = frozenset({"v", "node", "sent_ms", "events"})


def _decode_sound(raw_events: list[Any], topic_node: str, sent_ms: int | None) -> Batch | None:
    """The common case, a sound batch, in one strict call into pydantic-core and no models.

    None if anything is off, even what the models would accept after coercion: then
    :func:`_decode_checked` decides, and says why.
    """
    try:
        _EVENTS_PLAIN.validate_python(raw_events, strict=True)
    except ValidationError:
        return None
    # Every event is an object with an int seq in 1..MAX_SEQ and a valid node id: what
    # is left of the frame checks is one node and contiguous seqs.
    first = raw_events[0]["seq"]
    if [r["seq"] for r in raw_events] != list(range(first, first + len(raw_events))):
        return None
    if any(r["node"] != topic_node for r in raw_events):
        return None
    return Batch(topic_node, raw=raw_events, sent_ms=sent_ms)


def _decode_checked(raw_events: list[Any], topic_node: str, sent_ms: int | None) -> Batch:
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
        events: list[Event | ParkedEvent] = list(_EVENTS_ADAPTER.validate_python(raw_events))
    except ValidationError:
        events = []
        for raw in raw_events:
            try:
                events.append(EVENT_ADAPTER.validate_python(raw))
            except ValidationError as err:
                events.append(ParkedEvent(topic_node, raw["seq"], raw, _explain(err)))
    # A valid event's envelope as its model holds it (a coerced value, the canonical id);
    # its payload as it came.
    raw = [
        e.raw
        if isinstance(e, ParkedEvent)
        else {**r, **e.model_dump(mode="json", exclude={"payload"})}
        for e, r in zip(events, raw_events, strict=True)
    ]
    reasons = {i: e.reason for i, e in enumerate(events) if isinstance(e, ParkedEvent)}
    return Batch(topic_node, events, raw=raw, reasons=reasons, sent_ms=sent_ms)
