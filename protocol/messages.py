"""Typed MQTT messages (pydantic v2) and their envelope.

Every message carries ``v`` (the schema version) and the ``node`` it concerns.
Edge events travel in an :class:`EventEnvelope`; its ``type`` selects the
payload model (a discriminated union), so an unknown type or a payload that
does not fit is a clear validation error, never a silently stored dict.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from protocol.topics import NODE_ID_PATTERN

SCHEMA_VERSION: Final = 1
#: Sequences are SQLite/PostgreSQL signed 64-bit integers, starting at 1.
MAX_SEQ: Final = 2**63 - 1
#: Upper bounds on one event batch; an edge never builds a larger one.
MAX_BATCH_EVENTS: Final = 2000
MAX_BATCH_BYTES: Final = 1024 * 1024

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Cursor = Annotated[int, Field(ge=0, le=MAX_SEQ)]  # "applied through": 0 means nothing yet
Epoch = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Hlc = Annotated[int, Field(ge=0, le=2**63 - 1)]
# Printable text only: a control character in a barcode is a scanner fault, not data.
Barcode = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
SkuCode = Annotated[
    str, StringConstraints(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- event payloads (edge -> cloud) -------------------------------------------------


class ScanPayload(Message):
    """A barcode scanned at a station and the verdict the operator was shown."""

    station: NodeId
    barcode: Barcode
    sku_code: SkuCode | None = None
    verdict: Literal["ok", "unknown"]


StationKind = Literal["pack", "pick", "stocktake", "inbound", "demo"]


class NodeStartedPayload(Message):
    """A node (re)started: its new epoch begins with this event."""

    software: Name
    station_kind: StationKind


class _EventBase(Message):
    v: Literal[1] = SCHEMA_VERSION
    node: NodeId
    epoch: Epoch
    seq: Seq
    id: UUID
    hlc: Hlc


class ScanRecorded(_EventBase):
    type: Literal["scan.recorded"] = "scan.recorded"
    payload: ScanPayload


class NodeStarted(_EventBase):
    type: Literal["node.started"] = "node.started"
    payload: NodeStartedPayload


EventEnvelope = Annotated[ScanRecorded | NodeStarted, Field(discriminator="type")]
EVENT_ADAPTER: Final[TypeAdapter[ScanRecorded | NodeStarted]] = TypeAdapter(EventEnvelope)
EVENT_TYPES: Final = {"scan.recorded": ScanRecorded, "node.started": NodeStarted}


# --- cloud -> edge ----------------------------------------------------------------------


class Ack(Message):
    """Cumulative acknowledgement: the cloud has durably applied ``1..acked_through``.

    ``resend_from`` asks the edge to send again from that seq (a gap was seen).
    ``parked`` lists seqs that were malformed and parked for review (they count
    as applied so the stream behind them flows).
    """

    v: Literal[1] = SCHEMA_VERSION
    node: NodeId
    acked_through: Cursor
    resend_from: Seq | None = None
    parked: list[Seq] = Field(default_factory=list, max_length=MAX_BATCH_EVENTS)


class CatalogueUpsert(Message):
    sku_code: SkuCode
    name: Name
    barcodes: list[Barcode] = Field(min_length=1, max_length=32)
    weight_g: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class _ChangeBase(Message):
    seq: Seq


class CatalogueUpserted(_ChangeBase):
    type: Literal["catalogue.upsert"] = "catalogue.upsert"
    payload: CatalogueUpsert


DownChange = Annotated[CatalogueUpserted, Field(discriminator="type")]


class DownBatch(Message):
    """Changes for one node, in its downlink sequence; ``head`` is the newest seq the cloud has."""

    v: Literal[1] = SCHEMA_VERSION
    node: NodeId
    changes: list[DownChange] = Field(max_length=MAX_BATCH_EVENTS)
    head: Cursor


class Pull(Message):
    """Edge -> cloud: send me downlink changes after ``after`` (my ``last_applied``)."""

    v: Literal[1] = SCHEMA_VERSION
    node: NodeId
    after: Cursor


class NodeState(Message):
    """Retained presence: the birth message, periodic status, and the last will (``online: false``).

    The sync figures let the hub show, per node, how far behind it is without
    waiting for the events themselves: ``backlog`` events not yet acked, the
    age of the oldest of them, and an ``alarm`` when the node sees no progress.
    """

    v: Literal[1] = SCHEMA_VERSION
    node: NodeId
    online: bool
    epoch: Epoch | None = None
    software: Name | None = None
    last_seq: Cursor | None = None
    acked_through: Cursor | None = None
    backlog: Cursor | None = None
    oldest_unacked_age_s: Annotated[float, Field(ge=0)] | None = None
    alarm: Annotated[str, StringConstraints(max_length=300)] | None = None


class HubState(Message):
    """Retained by the cloud on ``guanjia/v1/hub/state``; edges drain only while it is online."""

    v: Literal[1] = SCHEMA_VERSION
    online: bool


def dump(msg: Message) -> dict[str, Any]:
    return msg.model_dump(mode="json")
