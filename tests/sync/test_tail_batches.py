"""A node's tail batch waits while another is in flight (edge/sync.py ``_drain``, Nagle's
rule; issue 20): scans written meanwhile leave together when the ack comes, and full
batches of a backlog still fill the window.

A real edge store and sync agent and a real broker; the hub is the test, which sees every
batch and acks only when told.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiomqtt

from edge.config import MqttSection, SyncSection
from edge.store.store import Store
from edge.sync import SyncAgent
from protocol import codec, topics
from protocol.messages import Ack, ScanPayload
from simulators.broker import PrivateBroker
from tests.support import run_bounded, stop_tasks, until


def _scan(store: Store, agent: SyncAgent, n: int = 1) -> None:
    with store.atomic():
        for _ in range(n):
            store.record_scan(
                ScanPayload(station="s", barcode="B1", sku_code=None, verdict="unknown")
            )
    agent.kick()


def test_a_tail_batch_waits_for_the_ack_of_the_one_in_flight(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    node = f"tail-{uuid.uuid4().hex[:8]}"
    store = Store(tmp_path / "edge.db", node)
    store.start_epoch("test", "demo")  # seq 1
    agent = SyncAgent(
        store,
        MqttSection(port=broker.port),
        SyncSection(batch_events=100, window=8),
        software="test",
    )
    batches: list[list[int]] = []  # the seqs of each batch the "hub" received

    async def ack(hub: aiomqtt.Client, through: int) -> None:
        await hub.publish(
            topics.topic(node, topics.Channel.ACK),
            codec.encode(Ack(node=node, acked_through=through)),
            qos=1,
        )

    async def quiet(n: int) -> None:
        """Nothing more than ``n`` batches arrives for a while."""
        await asyncio.sleep(0.4)
        assert len(batches) == n, batches

    async def scenario(hub: aiomqtt.Client) -> None:
        await until(lambda: agent.status.connected, 10, "the node connected")
        await ack(hub, 0)  # the answer to its hello: send from seq 1
        await until(lambda: len(batches) == 1, 10, "the first batch")
        assert batches == [[1]]
        _scan(store, agent)  # seq 2
        await quiet(1)  # held: [1] is a tail batch in flight
        _scan(store, agent)  # seq 3
        await quiet(1)
        await ack(hub, 1)
        await until(lambda: len(batches) == 2, 10, "the held scans")
        assert batches[1] == [2, 3]  # one batch, not one each
        # A backlog while [2, 3] is in flight: full batches go at once, the tail waits.
        _scan(store, agent, 250)  # seqs 4..253
        await until(lambda: len(batches) == 4, 10, "the full batches")
        assert batches[2:] == [list(range(4, 104)), list(range(104, 204))]
        await quiet(4)
        await ack(hub, 3)
        await until(lambda: len(batches) == 5, 10, "the tail")
        assert batches[4] == list(range(204, 254))
        await ack(hub, 253)
        await until(lambda: store.backlog() == 0, 10, "all acked")

    async def main() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as hub:
            await hub.subscribe(topics.topic(node, topics.Channel.EVENTS), qos=1)

            async def receive() -> None:
                async for m in hub.messages:
                    assert isinstance(m.payload, bytes)
                    batch = codec.decode_batch(m.payload, node)
                    batches.append([e["seq"] for e in batch.raw])

            tasks = [asyncio.create_task(receive()), asyncio.create_task(agent.run())]
            try:
                async with asyncio.timeout(60):
                    await scenario(hub)
            finally:
                await stop_tasks(tasks)

    run_bounded(main())
