"""The MQTT contract: one list of messages, round-trips, truncations, bad bytes, fuzz."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import codec, topics
from protocol.codec import Batch, ParkedEvent
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    MAX_BATCH_EVENTS,
    Ack,
    CatalogueUpsert,
    CatalogueUpserted,
    DownBatch,
    HubState,
    Message,
    NodeStarted,
    NodeStartedPayload,
    NodeState,
    OrderPicked,
    Pull,
    ScanPayload,
    ScanRecorded,
    StocktakeCounted,
)

NODE = "wh1-pack-1"


def scan(seq: int, barcode: str = "6901234567892", node: str = NODE) -> ScanRecorded:
    return ScanRecorded(
        node=node,
        epoch=2,
        seq=seq,
        id=uuid.UUID(int=seq),
        hlc=(1_790_000_000_000 << 16) + seq,
        payload=ScanPayload(
            station="pack-1",
            barcode=barcode,
            sku_code="MKING IPAD AIR2 金甲系列皮套-金色",
            verdict="ok",
        ),
    )


MESSAGES: list[Message] = [
    scan(1),
    NodeStarted(
        node=NODE,
        epoch=3,
        seq=7,
        id=uuid.UUID(int=7),
        hlc=5,
        payload=NodeStartedPayload(software="guanjia 0.1.0", station_kind="pack"),
    ),
    Ack(node=NODE, acked_through=41, resend_from=None, parked=[12]),
    Ack(node=NODE, acked_through=0, resend_from=1),
    DownBatch(
        node=NODE,
        changes=[
            CatalogueUpserted(
                seq=1,
                payload=CatalogueUpsert(
                    sku_code="BCP IPAD AIR2 金甲系列皮套-金色",
                    name="半成品",
                    barcodes=["2000000000015"],
                ),
            )
        ],
        head=1,
    ),
    Pull(node=NODE, after=0),
    *[
        cls.model_validate_json(body)
        for cls, body in [
            (
                OrderPicked,
                '{"node":"wh1-pack-1","epoch":1,"seq":3,"id":"019a8f5e-3c24-7d40-9b2a-5f0c1e2d3a4e","hlc":1,"payload":{"order_id":"JY1","version":1,"station":"pick-1","lines":[{"line_id":"1","sku_code":"A","qty":0,"short":true}]}}',
            ),
            (
                StocktakeCounted,
                '{"node":"wh1-pack-1","epoch":1,"seq":4,"id":"019a8f5e-3c24-7d40-9b2a-5f0c1e2d3a4f","hlc":2,"payload":{"count_id":"C1","warehouse":"WH1","method":"rfid","scope":"full","station":"st-1","lines":[],"missed_bins":["A-1"]}}',
            ),
        ]
    ],
    NodeState(node=NODE, online=True, epoch=3, software="guanjia 0.1.0"),
    NodeState(node=NODE, online=False),
    HubState(online=True),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(msg: Message) -> None:
    data = codec.encode(msg)
    assert codec.decode(type(msg), data) == msg


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_truncation_is_a_clear_error(msg: Message) -> None:
    data = codec.encode(msg)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            codec.decode(type(msg), data[:cut])


def _batch(*events: ScanRecorded) -> bytes:
    return codec.encode_batch(NODE, [codec.encode_event(e) for e in events])


def test_batch_round_trip() -> None:
    events = [scan(i) for i in range(5, 10)]
    got = codec.decode_batch(_batch(*events), NODE)
    assert got == Batch(NODE, tuple(events))
    assert (got.first_seq, got.last_seq) == (5, 9)


def test_batch_send_time_round_trips_and_is_optional() -> None:
    events = [codec.encode_event(scan(i)) for i in (1, 2)]
    sent = codec.decode_batch(codec.encode_batch(NODE, events, 1_790_000_000_450), NODE)
    assert sent.sent_ms == 1_790_000_000_450
    assert [e.seq for e in sent.events] == [1, 2]
    assert codec.decode_batch(codec.encode_batch(NODE, events), NODE).sent_ms is None
    # Kept through the slow path too (a parked event), and 0 and the top are times.
    bad = orjson.dumps({"v": 1, "node": NODE, "sent_ms": 0, "events": [_raw(type="x")]})
    assert codec.decode_batch(bad, NODE).sent_ms == 0
    top = codec.encode_batch(NODE, events, codec.MAX_SENT_MS)
    assert codec.decode_batch(top, NODE).sent_ms == codec.MAX_SENT_MS
    for wrong in (-1, codec.MAX_SENT_MS + 1, True):
        with pytest.raises(ValueError, match="sent_ms"):
            codec.encode_batch(NODE, events, wrong)


def test_batch_truncations_never_decode() -> None:
    data = _batch(scan(1), scan(2))
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            codec.decode_batch(data[:cut], NODE)


def _raw(**over: object) -> dict[str, object]:
    return {**orjson.loads(codec.encode_event(scan(1))), **over}


BAD_BATCHES: list[tuple[str, bytes, str]] = [
    ("garbage", b"\x00\xff garbage", "not JSON"),
    ("json list", b"[1,2]", "expected a JSON object"),
    ("old schema", b'{"v":0,"node":"wh1-pack-1","events":[]}', "schema version 0 not supported"),
    ("future schema", b'{"v":2,"node":"wh1-pack-1","events":[]}', "schema version 2 not supported"),
    # True == 1 and 1.0 == 1 in Python: both passed as version 1 (issue 19, finding 6).
    ("bool schema", orjson.dumps({"v": True, "node": NODE, "events": [_raw()]}), "version True"),
    ("float schema", orjson.dumps({"v": 1.0, "node": NODE, "events": [_raw()]}), "version 1.0"),
    ("other node", orjson.dumps({"v": 1, "node": "wh9", "events": [_raw()]}), "claims node 'wh9'"),
    ("no events", b'{"v":1,"node":"wh1-pack-1","events":[]}', "no events"),
    (
        "extra field",
        orjson.dumps({"v": 1, "node": NODE, "events": [_raw()], "x": 1}),
        "unknown fields",
    ),
    (
        "negative seq",
        orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq=-1)]}),
        "no valid seq",
    ),
    ("zero seq", orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq=0)]}), "no valid seq"),
    (
        "seq 2^64",
        orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq=2**64 - 1)]}),
        "no valid seq",
    ),
    (
        "seq 2^63",
        b'{"v":1,"node":"wh1-pack-1","events":[{"seq":9223372036854775808}]}',
        "no valid seq",
    ),
    ("bool seq", orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq=True)]}), "no valid seq"),
    ("string seq", orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq="1")]}), "no valid seq"),
    (
        "event of other node",
        orjson.dumps({"v": 1, "node": NODE, "events": [_raw(node="wh9")]}),
        "claims node 'wh9'",
    ),
    (
        "seq gap inside",
        orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq=1), _raw(seq=3)]}),
        "seq 3 follows 1",
    ),
    (
        "seq reorder",
        orjson.dumps({"v": 1, "node": NODE, "events": [_raw(seq=2), _raw(seq=1)]}),
        "seq 1 follows 2",
    ),
    ("event not object", orjson.dumps({"v": 1, "node": NODE, "events": [1]}), "not an object"),
    *(
        (
            f"sent_ms {v!r}",
            orjson.dumps({"v": 1, "node": NODE, "sent_ms": v, "events": [_raw()]}),
            "sent_ms must be an integer",
        )
        for v in (None, True, -1, 1.5e12, "1790000000000", 2**47)
    ),
    ("oversized", b" " * (1024 * 1024 + 1), "exceeds"),
    (
        "too many events",
        orjson.dumps(
            {"v": 1, "node": NODE, "events": [_raw(seq=i + 1) for i in range(MAX_BATCH_EVENTS + 1)]}
        ),
        "exceeds",
    ),
]


@pytest.mark.parametrize(
    ("data", "why"), [(d, w) for _, d, w in BAD_BATCHES], ids=[n for n, _, _ in BAD_BATCHES]
)
def test_bad_batches_are_rejected_with_the_reason(data: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        codec.decode_batch(data, NODE)


@pytest.mark.parametrize("v", [True, 1.0, "1"])
def test_an_event_whose_version_is_not_the_integer_1_is_parked(v: object) -> None:
    batch = codec.decode_batch(orjson.dumps({"v": 1, "node": NODE, "events": [_raw(v=v)]}), NODE)
    assert list(batch.reasons) == [0]
    assert "v" in batch.reasons[0]


@pytest.mark.parametrize("v", ["true", "1.0", '"1"'])
def test_a_message_whose_version_is_not_the_integer_1_is_refused(v: str) -> None:
    good = codec.encode(Ack(node=NODE, acked_through=5))
    with pytest.raises(RemoteProtocolError, match="schema version"):
        codec.decode(Ack, good.replace(b'"v":1', b'"v":' + v.encode()))


def test_bad_event_inside_a_sound_batch_is_parked_not_fatal() -> None:
    data = orjson.dumps(
        {
            "v": 1,
            "node": NODE,
            "events": [
                orjson.loads(codec.encode_event(scan(1))),
                _raw(seq=2, type="pallet.teleported"),
                _raw(seq=3, payload={"station": "pack-1", "barcode": "a\x07b", "verdict": "ok"}),
                orjson.loads(codec.encode_event(scan(4))),
            ],
        }
    )
    got = codec.decode_batch(data, NODE)
    kinds = [type(e).__name__ for e in got.events]
    assert kinds == ["ScanRecorded", "ParkedEvent", "ParkedEvent", "ScanRecorded"]
    parked = [e for e in got.events if isinstance(e, ParkedEvent)]
    assert "pallet.teleported" in parked[0].reason
    assert "barcode" in parked[1].reason
    assert [e.seq for e in got.events] == [1, 2, 3, 4]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_decode_or_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        codec.decode_batch(data, NODE)
    for cls in (Ack, DownBatch, Pull, NodeState, HubState):
        with contextlib.suppress(RemoteProtocolError):
            codec.decode(cls, data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "node", "epoch", "seq", "id", "hlc", "type", "payload"]), json_values
    )
)
def test_mutated_events_are_placed_parked_or_rejected(fields: dict[str, object]) -> None:
    raw = {**_raw(), **fields}
    data = orjson.dumps({"v": 1, "node": NODE, "events": [raw]})
    try:
        got = codec.decode_batch(data, NODE)
    except RemoteProtocolError:
        return
    (ev,) = got.events
    assert ev.seq == raw["seq"]


def test_topics_build_and_parse() -> None:
    t = topics.topic(NODE, topics.Channel.EVENTS)
    # Events carry the node's partition (docs/sync.md, "Partitions").
    assert t == "guanjia/v1/node/wh1-pack-1/events/17"
    assert topics.parse(t) == topics.NodeTopic(NODE, topics.Channel.EVENTS, 17)
    # A node from before partitions: still a node's events topic.
    old = topics.parse("guanjia/v1/node/wh1-pack-1/events")
    assert old == topics.NodeTopic(NODE, topics.Channel.EVENTS)
    assert topics.topic(NODE, topics.Channel.ACK) == "guanjia/v1/node/wh1-pack-1/ack"
    assert (
        topics.subscription(topics.Channel.EVENTS, "ingest")
        == "$share/ingest/guanjia/v1/node/+/events"
    )


def test_partitions_are_stable_and_spread() -> None:
    """CRC-32, not ``hash()``: the same partition in every process, on every machine and
    Python version (a node and the hubs must agree); and 2,000 nodes of the fan-in bench's
    names spread over the 64 partitions without a partition twice the mean."""
    assert [topics.partition_of(n) for n in ("wh1-pack-1", "f0-0000", "edge-1", "n1")] == [
        17,
        23,
        35,
        44,
    ]
    counts = Counter(topics.partition_of(f"f{f}-{i:04d}") for f in range(2) for i in range(1000))
    assert set(counts) == set(range(topics.PARTITIONS))
    assert max(counts.values()) < 2 * 2000 / topics.PARTITIONS


def test_partition_filters_match_their_partition_only() -> None:
    """A hub worker's filter for partition p takes every node's events on p, nothing else:
    not another partition, not the unpartitioned topic, not another channel."""
    from paho.mqtt.client import topic_matches_sub

    sub = topics.partition_subscription(17)
    assert sub == "guanjia/v1/node/+/events/17"
    assert topic_matches_sub(sub, topics.topic(NODE, topics.Channel.EVENTS))
    assert not topic_matches_sub(sub, topics.topic("n1", topics.Channel.EVENTS))
    assert not topic_matches_sub(sub, "guanjia/v1/node/wh1-pack-1/events")
    old = topics.subscription(topics.Channel.EVENTS, None)
    assert not topic_matches_sub(old, topics.topic(NODE, topics.Channel.EVENTS))
    with pytest.raises(ValueError, match="out of"):
        topics.partition_subscription(topics.PARTITIONS)


@pytest.mark.parametrize(
    "node", ["", "a/b", "+", "#", "a+b", "wh#1", "$SYS", "-lead", "x" * 65, "空"]
)
def test_topic_node_ids_cannot_smuggle_wildcards(node: str) -> None:
    with pytest.raises(ValueError, match="invalid node id"):
        topics.topic(node, topics.Channel.EVENTS)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("guanjia/v1/node/wh1/teleport", "unknown channel"),
        ("guanjia/v2/node/wh1/events", "not a Guanjia node topic"),
        ("guanjia/v1/node/wh1/events/extra", "bad partition"),
        ("guanjia/v1/node/wh1/events/07", "bad partition"),
        ("guanjia/v1/node/wh1/events/+7", "bad partition"),
        ("guanjia/v1/node/wh1/events/٧", "bad partition"),
        ("guanjia/v1/node/wh1/events/", "bad partition"),
        ("guanjia/v1/node/wh1/events/64", "partition 64 on events"),
        ("guanjia/v1/node/wh1/ack/3", "only events carry one"),
        ("guanjia/v1/node/wh1/events/3/4", "not a Guanjia node topic"),
        ("guanjia/v1/node/+/events", "invalid node id"),
    ],
)
def test_bad_topics(name: str, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        topics.parse(name)
