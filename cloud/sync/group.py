"""One ingest group: the messages taken from the broker together, decoded, not yet applied.

Decoding is the MQTT loop's work and applying the database thread's, so the worker decodes
the next group while the previous one is applied (cloud/sync/worker.py ``_ingest``; issue
20, the fan-in lag). Nothing here touches the database: a bad message is noted for the
apply step, which records it (``record_rejection``) in order with the rest of the group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from protocol import codec, topics
from protocol.errors import RemoteProtocolError
from protocol.messages import NodeState, Pull

#: Messages in one group (their batches share one transaction). When the hub falls behind,
#: groups grow to this and the per-transaction cost is shared by more: with hundreds of
#: nodes sending one event at a time, 64 kept the hub behind for good (``guanjia bench
#: fanin``). Bounded in bytes too: a batch may be up to 1 MiB.
GROUP_MAX = 1000
GROUP_MAX_BYTES = 16 * 1024 * 1024


#: Topic names seen again and again (2,000 nodes × events, state, pull), parsed and built
#: once each: parsing and building them was 3 % of the hub's CPU at 2,000 nodes (py-spy,
#: issue 20). Both are pure (a NodeTopic is frozen); a bad name raises and is not cached;
#: the bound keeps a flood of made-up valid names from growing the hub's memory.
TOPIC_CACHE = 16384
parse_topic = lru_cache(maxsize=TOPIC_CACHE)(topics.parse)


@lru_cache(maxsize=TOPIC_CACHE)
def ack_topic(node: str) -> str:
    """The node's ack topic (see :data:`TOPIC_CACHE`)."""
    return topics.topic(node, topics.Channel.ACK)


@dataclass(frozen=True)
class Rejection:
    """A message refused before it reached the database: topic, node (if known), why, size."""

    topic: str
    node: str | None
    reason: str
    size: int


def pull_of(node: str, payload: bytes) -> int:
    """The cursor a node's pull asks from; raises RemoteProtocolError for a bad one."""
    pull = codec.decode(Pull, payload)
    if pull.node != node:
        raise RemoteProtocolError(f"pull claims node {pull.node!r} on the topic of {node!r}")
    return pull.after


@dataclass
class Group:
    """Decoded messages, in arrival order per node: per node, its event batches apply in the
    order they came, exactly as if each came alone (docs/sync.md, "Upstream")."""

    batches: dict[str, list[codec.Batch]] = field(default_factory=dict)
    #: The newest status of each node in the group (hundreds of nodes report at once).
    states: dict[str, NodeState] = field(default_factory=dict)
    #: Each node's pull (hello): the cursor it asks from.
    pulls: dict[str, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    messages: int = 0
    size: int = 0

    def __bool__(self) -> bool:
        return self.messages > 0

    def full(self) -> bool:
        return self.messages >= GROUP_MAX or self.size >= GROUP_MAX_BYTES

    def add(self, name: str, payload: bytes) -> None:
        """Decode one message into the group (a bad one becomes a :class:`Rejection`)."""
        self.messages += 1
        self.size += len(payload)
        try:
            parsed = parse_topic(name)
        except RemoteProtocolError as err:
            self.rejections.append(Rejection(name, None, str(err), len(payload)))
            return
        node = parsed.node
        try:
            if parsed.channel is topics.Channel.EVENTS:
                # Decoded before the node gets an entry: a bad first message of a node in
                # the group left it an empty list, and its ack (of no results) failed the
                # whole ingest session (IndexError), which then reconnected.
                batch = codec.decode_batch(payload, node)
                self.batches.setdefault(node, []).append(batch)
            elif parsed.channel is topics.Channel.STATE and payload:
                # (an empty retained message only clears the topic: nothing to record)
                self.states[node] = codec.decode(NodeState, payload)
            elif parsed.channel is topics.Channel.PULL:
                self.pulls[node] = pull_of(node, payload)
        except RemoteProtocolError as err:
            self.rejections.append(Rejection(name, node, str(err), len(payload)))
