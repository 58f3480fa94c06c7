"""Ingest decodes the next group while the database applies the previous one (issue 20).

Through a real Mosquitto and the real worker; the only stand-in is fault injection: the
first group's apply is held in the database thread until the test lets it go.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory
from cloud.db.models import Event
from cloud.settings import Settings
from cloud.sync import group as group_module
from cloud.sync import ingest
from cloud.sync.worker import IngestWorker
from protocol import codec, topics
from protocol.hlc import pack
from protocol.messages import Ack, ScanPayload, ScanRecorded
from simulators.broker import PrivateBroker

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


class _HeldFirstApply:
    """Fault injection: the first group's apply waits in the database thread until released;
    every decode of an event batch notes whether that apply was held at the time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.decoded_while_held: list[bool] = []
        real_apply, real_decode = ingest.apply_batches, codec.decode_batch
        calls = 0

        def apply(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 1:
                self.held.set()
                assert self.release.wait(20), "the test never released the first group"
            return real_apply(*args, **kwargs)

        def decode(payload: bytes, node: str) -> codec.Batch:
            self.decoded_while_held.append(self.held.is_set() and not self.release.is_set())
            return real_decode(payload, node)

        monkeypatch.setattr(ingest, "apply_batches", apply)
        monkeypatch.setattr(group_module.codec, "decode_batch", decode)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[_HeldFirstApply]:
    h = _HeldFirstApply(monkeypatch)
    yield h
    h.release.set()


def test_the_next_group_is_decoded_while_one_is_applied(
    broker: PrivateBroker, engine: Engine, held: _HeldFirstApply
) -> None:
    """Batches that arrive while a group is in the database are decoded meanwhile, then
    applied once that group has committed and been acked: in order, each event once."""
    events = topics.topic(NODE, topics.Channel.EVENTS)

    async def go() -> list[Ack]:
        settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"cloud-{uuid.uuid4().hex[:6]}")
        worker = IngestWorker(settings, session_factory(engine))
        task = asyncio.create_task(worker.run())
        acks: list[Ack] = []
        try:
            async with aiomqtt.Client("127.0.0.1", broker.port) as c:
                await c.subscribe(topics.topic(NODE, topics.Channel.ACK), qos=1)
                async with asyncio.timeout(10):
                    while not worker.stats.connected:
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.1)  # the worker's subscriptions settle
                await c.publish(events, codec.encode_batch(NODE, [ev(1)]), qos=1)
                async with asyncio.timeout(10):
                    while not held.held.is_set():
                        await asyncio.sleep(0.01)
                for seq in range(2, 6):  # while seq 1's group is held in the database
                    await c.publish(events, codec.encode_batch(NODE, [ev(seq)]), qos=1)
                async with asyncio.timeout(10):  # all four decoded, the first group still held
                    while len(held.decoded_while_held) < 5:
                        await asyncio.sleep(0.01)
                assert held.decoded_while_held == [False, True, True, True, True]
                assert worker.stats.events == 0  # nothing of the held group committed yet
                held.release.set()
                async with asyncio.timeout(10):
                    async for msg in c.messages:
                        assert isinstance(msg.payload, bytes)
                        acks.append(codec.decode(Ack, msg.payload))
                        if acks[-1].acked_through >= 5:
                            break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return acks

    acks = asyncio.run(go())
    # The held group's ack first, then the next group's (decoded meanwhile), cumulative.
    assert [a.acked_through for a in acks] == [1, 5]
    assert all(a.resend_from is None for a in acks)
    with session_factory(engine)() as s:
        seqs = s.execute(select(Event.seq).where(Event.node_id == NODE).order_by(Event.seq))
        assert list(seqs.scalars()) == [1, 2, 3, 4, 5]
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == 5


def test_a_groups_acks_all_go_out_without_waiting_for_pubacks(
    broker: PrivateBroker, engine: Engine
) -> None:
    """Every ack of a group of 1,200 nodes is on its way at once: none held in the client
    behind the broker's PUBACKs (paho's in-flight limit walked every held message on every
    PUBACK: 15 % of the hub's CPU at 2,000 nodes)."""
    nodes = [f"n{i:04d}" for i in range(1200)]
    held_back: list[int] = []

    async def go() -> None:
        settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"cloud-{uuid.uuid4().hex[:6]}")
        worker = IngestWorker(settings, session_factory(engine))
        async with worker._connect() as client:
            paho = client._client
            messages = [
                (topics.topic(n, topics.Channel.EVENTS), codec.encode_batch(n, [ev(1, n)]))
                for n in nodes
            ]
            await worker.handle_many(client, messages)
            held_back.append(
                sum(1 for m in paho._out_messages.values() if m.state == mqtt.mqtt_ms_queued)
            )
            async with asyncio.timeout(20):  # the broker confirms them all
                while paho._out_messages:
                    await asyncio.sleep(0.05)
        assert worker.stats.events == len(nodes)

    asyncio.run(go())
    assert held_back == [0]
