"""MQTT topic names: built and parsed here only, validated on construction.

Layout (docs/protocol.md, "Topics")::

    guanjia/v1/node/{node}/events/{p}  edge -> cloud  event batches (QoS 1), p = partition_of(node)
    guanjia/v1/node/{node}/events   edge -> cloud   the same, from nodes older than partitions
    guanjia/v1/node/{node}/ack      cloud -> edge   cumulative acks (QoS 1)
    guanjia/v1/node/{node}/down     cloud -> edge   downlink change batches (QoS 1)
    guanjia/v1/node/{node}/pull     edge -> cloud   "send me downlink from seq N" (QoS 1)
    guanjia/v1/node/{node}/state    edge, retained  birth / last will (QoS 1)
    guanjia/v1/hub/state            cloud, retained hub online/offline (QoS 1)

Node ids may not carry MQTT wildcards (``+``, ``#``), the level separator
``/`` or a leading ``$`` (MQTT 3.1.1 §4.7.1-4.7.2), so one node can never
address or subscribe to another's topics by choosing a clever name.

Partitions (docs/sync.md, "Partitions"): a node's event batches carry a partition number
derived from its id, so that hub ingest workers can each take whole partitions (leased in
the database, cloud/sync/partitions.py) and every batch of one node reaches the same worker,
in order. On one shared subscription the broker hands a node's consecutive batches to any
worker, and each then sees gaps and asks for resends (docs/benchmarks.md, S32: two hubs
157 µs per event against 92.5 with one, 84,465 resends).
"""

from __future__ import annotations

import enum
import re
import zlib
from dataclasses import dataclass
from typing import Final

from protocol.errors import RemoteProtocolError

PREFIX: Final = "guanjia/v1"
NODE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NODE_ID_RE: Final = re.compile(NODE_ID_PATTERN)
HUB_STATE: Final = f"{PREFIX}/hub/state"
#: Partitions of the nodes' event topics. Part of the protocol: a node and the hubs must
#: agree on it (a node with another count publishes on partitions no hub may be leasing).
#: 64 spreads the nodes within a few per cent over up to 8 workers; more costs each worker
#: a subscription per partition held, nothing per message.
PARTITIONS: Final = 64


class Channel(enum.StrEnum):
    EVENTS = "events"
    ACK = "ack"
    DOWN = "down"
    PULL = "pull"
    STATE = "state"


def validate_node_id(node: str) -> str:
    if not _NODE_ID_RE.fullmatch(node):
        raise ValueError(
            f"invalid node id {node!r}: use 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit"
        )
    return node


def partition_of(node: str) -> int:
    """The node's partition: CRC-32 of its id (stable across processes, machines and Python
    versions, unlike ``hash``), modulo :data:`PARTITIONS`."""
    return zlib.crc32(validate_node_id(node).encode()) % PARTITIONS


@dataclass(frozen=True, slots=True)
class NodeTopic:
    node: str
    channel: Channel
    #: Only on ``events``: the partition level (None: a node's topic from before partitions).
    partition: int | None = None

    def __post_init__(self) -> None:
        validate_node_id(self.node)
        if self.partition is not None and (
            self.channel is not Channel.EVENTS or not 0 <= self.partition < PARTITIONS
        ):
            raise ValueError(
                f"partition {self.partition} on {self.channel.value}: only events carry one,"
                f" from 0 to {PARTITIONS - 1}"
            )

    def __str__(self) -> str:
        base = f"{PREFIX}/node/{self.node}/{self.channel.value}"
        return base if self.partition is None else f"{base}/{self.partition}"


def topic(node: str, channel: Channel) -> str:
    """The node's topic on a channel; ``events`` with its partition (:func:`partition_of`)."""
    partition = partition_of(node) if channel is Channel.EVENTS else None
    return str(NodeTopic(node, channel, partition))


def partition_subscription(partition: int) -> str:
    """The filter for one partition of every node's events (a hub worker's lease)."""
    if not 0 <= partition < PARTITIONS:
        raise ValueError(f"partition {partition} out of 0..{PARTITIONS - 1}")
    return f"{PREFIX}/node/+/{Channel.EVENTS.value}/{partition}"


def subscription(channel: Channel, share_group: str | None = None) -> str:
    """Wildcard filter for one channel of every node; optionally a shared subscription.

    For ``events`` this matches the topics of nodes older than partitions only (``+``
    is one level: ``…/events/7`` does not match ``…/events``).

    Shared subscriptions (``$share/{group}/...``, MQTT 5 §4.8.2, also honoured
    by Mosquitto for 3.1.1 clients) spread messages over several cloud workers.
    """
    base = f"{PREFIX}/node/+/{channel.value}"
    if share_group is None:
        return base
    validate_node_id(share_group)  # same character rules keep the group name a single level
    return f"$share/{share_group}/{base}"


def parse(name: str) -> NodeTopic:
    """Parse a node topic; raise :class:`RemoteProtocolError` for anything else."""
    parts = name.split("/")
    if len(parts) not in (5, 6) or "/".join(parts[:2]) != PREFIX or parts[2] != "node":
        raise RemoteProtocolError(f"not a Guanjia node topic: {name!r}")
    try:
        channel = Channel(parts[4])
    except ValueError:
        raise RemoteProtocolError(f"unknown channel {parts[4]!r} in topic {name!r}") from None
    partition: int | None = None
    if len(parts) == 6:
        # As str() writes it and no other way: int() would take " 7", "+7", "07" and "٧".
        level = parts[5]
        if not (level.isascii() and level.isdigit() and len(level) <= 3) or level != str(
            int(level)
        ):
            raise RemoteProtocolError(f"bad partition {level!r} in topic {name!r}")
        partition = int(level)
    try:
        return NodeTopic(parts[3], channel, partition)
    except ValueError as err:
        raise RemoteProtocolError(str(err)) from None
