"""The hub's broker socket is read in large pieces (cloud/sync/readahead.py, issue 20)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

import aiomqtt
import pytest
from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory
from cloud.db.models import Event
from cloud.settings import Settings
from cloud.sync.readahead import ReadAhead
from cloud.sync.worker import IngestWorker
from protocol import codec, topics
from simulators.broker import PrivateBroker
from tests.cloud.sync.test_worker_pipeline import ev


class _Counting:
    """A real socket that counts the system calls made to read it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.recvs = sock, 0

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(size)

    def fileno(self) -> int:
        return self.sock.fileno()


def test_packets_are_read_from_memory_and_pending_says_what_is_left() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        counting = _Counting(a)
        r = ReadAhead(counting)
        with pytest.raises(BlockingIOError):
            r.recv(1)  # nothing yet: as the socket says
        # Three PUBACKs (MQTT 3.1.1 §3.4: 0x40, length 2, packet id) in one piece.
        b.sendall(bytes([0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 0, 3]))
        got = []
        for _ in range(3):  # read as paho does: type byte, length byte, body
            got.append(r.recv(1) + r.recv(1) + r.recv(2))
        assert got == [bytes([0x40, 2, 0, i]) for i in (1, 2, 3)]
        assert counting.recvs == 2  # one for the three packets (and the first, empty one)
        b.sendall(bytes([0x40, 2, 0, 4]))
        assert r.recv(1) == b"\x40"
        assert r.pending() == 3  # aiomqtt reads again while bytes wait here
        assert r.recv(100) == bytes([2, 0, 4]) and r.pending() == 0
        b.close()
        assert r.recv(1) == b""  # the end of the connection, as paho must see it
        assert r.fileno() == a.fileno()  # everything else is the socket's
    finally:
        a.close()


def test_a_burst_is_ingested_whole_through_the_read_ahead(
    broker: PrivateBroker, engine: Engine
) -> None:
    """300 batches arrive in a few reads; none is left in the buffer unseen."""
    nodes = [f"n{i:03d}" for i in range(300)]

    async def go() -> None:
        settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"cloud-{uuid.uuid4().hex[:6]}")
        worker = IngestWorker(settings, session_factory(engine))
        task = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(10):
                while worker._client is None or not worker.stats.connected:
                    await asyncio.sleep(0.05)
            assert isinstance(worker._client._client._sock, ReadAhead)
            await asyncio.sleep(0.1)  # the worker's subscriptions settle
            async with aiomqtt.Client("127.0.0.1", broker.port, max_inflight_messages=0) as c:
                for n in nodes:  # handed over at once, not one PUBACK at a time
                    c._client.publish(
                        topics.topic(n, topics.Channel.EVENTS), codec.encode_batch(n, [ev(1, n)]), 1
                    )
                async with asyncio.timeout(20):
                    while worker.stats.events < len(nodes):
                        await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.wait({task})

    asyncio.run(go())
    with session_factory(engine)() as s:
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == len(nodes)


def test_a_burst_that_draws_no_ack_is_read_whole(broker: PrivateBroker, engine: Engine) -> None:
    """Bad messages draw no ack, so no PUBACK comes back to wake the reader again: what the
    read-ahead holds must be read at once (aiomqtt reads while ``pending()``), not at the
    next keep-alive."""

    async def go() -> int:
        settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"cloud-{uuid.uuid4().hex[:6]}")
        worker = IngestWorker(settings, session_factory(engine))
        task = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(10):
                while not worker.stats.connected:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)  # the worker's subscriptions settle
            async with aiomqtt.Client("127.0.0.1", broker.port) as c:
                for i in range(300):
                    c._client.publish(topics.topic(f"n{i:03d}", topics.Channel.EVENTS), b"x", 0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        while worker.stats.rejected.total() < 300:
                            await asyncio.sleep(0.05)
            return worker.stats.rejected.total()
        finally:
            task.cancel()
            await asyncio.wait({task})

    assert asyncio.run(go()) == 300
