"""Ingest through a real Mosquitto: bad messages are rejected, counted, and ingest goes on."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import aiomqtt
import orjson
from sqlalchemy import Engine, select

from cloud.db.engine import session_factory
from cloud.db.models import Event, IngestRejection, ParkedEvent
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from protocol import codec, topics
from protocol.hlc import pack
from protocol.messages import Ack, ScanPayload, ScanRecorded
from simulators.broker import PrivateBroker
from tests.support.mqtt_fakes import RecordingClient

NODE = "wh1-pack-1"


def ev(seq: int, node: str = NODE) -> bytes:
    return codec.encode_event(
        ScanRecorded(
            node=node,
            epoch=1,
            seq=seq,
            id=uuid.uuid4(),
            hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
            payload=ScanPayload(station="pack-1", barcode=f"B{seq}", verdict="unknown"),
        )
    )


async def _run(
    broker: PrivateBroker, engine: Engine, sends: list[tuple[str, bytes]], through: int
) -> list[Ack]:
    """Publish, then collect acks until one acks through ``through`` (acks may be coalesced)."""
    settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"cloud-{uuid.uuid4().hex[:6]}")
    worker = IngestWorker(settings, session_factory(engine))
    task = asyncio.create_task(worker.run())
    acks: list[Ack] = []
    try:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, identifier=f"t-{uuid.uuid4().hex[:6]}"
        ) as c:
            await c.subscribe(topics.topic(NODE, topics.Channel.ACK), qos=1)
            for _ in range(100):
                if worker.stats.connected:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)  # the broker has the subscriptions (SUBACKs came)
            for topic, payload in sends:
                await c.publish(topic, payload, qos=1)
            async with asyncio.timeout(10):
                async for msg in c.messages:
                    assert isinstance(msg.payload, bytes)
                    acks.append(codec.decode(Ack, msg.payload))
                    if acks[-1].acked_through >= through:
                        break
            await asyncio.sleep(0.3)  # rejections are recorded after their log line
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return acks


def test_bad_messages_between_good_ones(broker: PrivateBroker, engine: Engine) -> None:
    events_topic = topics.topic(NODE, topics.Channel.EVENTS)
    bad_event = orjson.dumps({**orjson.loads(ev(3)), "type": "pallet.teleported"})
    sends = [
        (events_topic, codec.encode_batch(NODE, [ev(1), ev(2)])),
        (events_topic, b"\x00\x01 not json at all"),
        (events_topic, b'{"v":9,"node":"wh1-pack-1","events":[]}'),
        (
            events_topic,
            codec.encode_batch("wh2-pack-1", [ev(3, "wh2-pack-1")]),
        ),  # claims another node
        (events_topic, b'{"v":1,"node":"wh1-pack-1","events":[{"seq":18446744073709551616}]}'),
        (topics.topic(NODE, topics.Channel.PULL), b'{"v":1,"node":"wh1-pack-1","after":-5}'),
        (events_topic, codec.encode_batch(NODE, [bad_event, ev(4)])),
        (events_topic, codec.encode_batch(NODE, [ev(5)])),
    ]
    acks = asyncio.run(_run(broker, engine, sends, through=5))
    # Cumulative acks may be coalesced when batches queue up (group commit); they never go back.
    got = [a.acked_through for a in acks]
    assert got == sorted(got)
    assert got[-1] == 5
    assert [seq for a in acks for seq in a.parked] == [3]
    with session_factory(engine)() as s:
        assert list(s.execute(select(Event.seq).order_by(Event.seq)).scalars()) == [1, 2, 4, 5]
        assert list(s.execute(select(ParkedEvent.seq)).scalars()) == [3]
        reasons = list(
            s.execute(select(IngestRejection.reason).order_by(IngestRejection.id)).scalars()
        )
    assert len(reasons) == 5
    joined = " | ".join(reasons)
    for why in (
        "not JSON",
        "schema version 9",
        "claims node 'wh2-pack-1'",
        "no valid seq",
        "bad Pull: after",
    ):
        assert why in joined


def test_a_node_from_before_partitions_is_still_ingested(
    broker: PrivateBroker, engine: Engine
) -> None:
    """A node not yet upgraded publishes on ``…/events`` without a partition level: the hub
    still takes it (the shared subscription it keeps for them, docs/sync.md "Partitions"),
    mixed with the same node's batches on its partition, each stored once and in order."""
    legacy = str(topics.NodeTopic(NODE, topics.Channel.EVENTS))
    assert legacy == "guanjia/v1/node/wh1-pack-1/events"
    sends = [
        (legacy, codec.encode_batch(NODE, [ev(1), ev(2)])),
        (legacy, codec.encode_batch(NODE, [ev(3)])),
        (topics.topic(NODE, topics.Channel.EVENTS), codec.encode_batch(NODE, [ev(3), ev(4)])),
    ]
    acks = asyncio.run(_run(broker, engine, sends, through=4))
    assert acks[-1].acked_through == 4
    with session_factory(engine)() as s:
        assert list(s.execute(select(Event.seq).order_by(Event.seq)).scalars()) == [1, 2, 3, 4]


def test_gap_asks_for_resend(broker: PrivateBroker, engine: Engine) -> None:
    t = topics.topic(NODE, topics.Channel.EVENTS)
    sends = [
        (t, codec.encode_batch(NODE, [ev(1)])),
        (t, codec.encode_batch(NODE, [ev(3)])),
        (t, codec.encode_batch(NODE, [ev(2), ev(3)])),
    ]
    acks = asyncio.run(_run(broker, engine, sends, through=3))
    assert acks[-1].acked_through == 3
    # Processed one by one, the early seq 3 draws "resend from 2"; coalesced, it is simply filled.
    assert {a.resend_from for a in acks} <= {None, 2}
    with session_factory(engine)() as s:
        assert list(s.execute(select(Event.seq).order_by(Event.seq)).scalars()) == [1, 2, 3]


def test_a_group_whose_only_events_message_of_a_node_is_bad(engine: Engine) -> None:
    """Regression: the bad message of a node, first of its node in a group, left the node an
    empty list of batches; its ack then failed the ingest session (IndexError), which
    reconnected. It must be rejected alone, and the good node of the group applied."""
    sent: list[tuple[str, bytes]] = []

    async def go() -> None:
        worker = IngestWorker(Settings(), session_factory(engine))
        bad = topics.topic(NODE, topics.Channel.EVENTS)
        good = topics.topic("wh1-pack-2", topics.Channel.EVENTS)
        await worker.handle_many(
            RecordingClient(sent),  # type: ignore[arg-type]
            [
                (bad, b"not a batch"),
                (good, codec.encode_batch("wh1-pack-2", [ev(1, "wh1-pack-2")])),
            ],
        )

    asyncio.run(go())
    with session_factory(engine)() as s:
        assert s.execute(select(IngestRejection.node_id)).scalars().all() == [NODE]
        assert s.execute(select(Event.node_id, Event.seq)).all() == [("wh1-pack-2", 1)]
    acks = [codec.decode(Ack, p) for t, p in sent if t.endswith("/ack")]
    assert [(a.node, a.acked_through) for a in acks] == [("wh1-pack-2", 1)]
