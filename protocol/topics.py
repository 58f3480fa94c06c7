"""MQTT topic names: built and parsed here only, validated on construction.

Layout (docs/protocol.md, "Topics")::

    guanjia/v1/node/{node}/events   edge -> cloud   event batches (QoS 1)
    guanjia/v1/node/{node}/ack      cloud -> edge   cumulative acks (QoS 1)
    guanjia/v1/node/{node}/down     cloud -> edge   downlink change batches (QoS 1)
    guanjia/v1/node/{node}/pull     edge -> cloud   "send me downlink from seq N" (QoS 1)
    guanjia/v1/node/{node}/state    edge, retained  birth / last will (QoS 1)
    guanjia/v1/hub/state            cloud, retained hub online/offline (QoS 1)

Node ids may not carry MQTT wildcards (``+``, ``#``), the level separator
``/`` or a leading ``$`` (MQTT 3.1.1 §4.7.1-4.7.2), so one node can never
address or subscribe to another's topics by choosing a clever name.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from protocol.errors import RemoteProtocolError

PREFIX: Final = "guanjia/v1"
NODE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NODE_ID_RE: Final = re.compile(NODE_ID_PATTERN)
HUB_STATE: Final = f"{PREFIX}/hub/state"


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


@dataclass(frozen=True, slots=True)
class NodeTopic:
    node: str
    channel: Channel

    def __post_init__(self) -> None:
        validate_node_id(self.node)

    def __str__(self) -> str:
        return f"{PREFIX}/node/{self.node}/{self.channel.value}"


def topic(node: str, channel: Channel) -> str:
    return str(NodeTopic(node, channel))


def subscription(channel: Channel, share_group: str | None = None) -> str:
    """Wildcard filter for one channel of every node; optionally a shared subscription.

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
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX or parts[2] != "node":
        raise RemoteProtocolError(f"not a Guanjia node topic: {name!r}")
    try:
        channel = Channel(parts[4])
    except ValueError:
        raise RemoteProtocolError(f"unknown channel {parts[4]!r} in topic {name!r}") from None
    try:
        return NodeTopic(parts[3], channel)
    except ValueError as err:
        raise RemoteProtocolError(str(err)) from None
