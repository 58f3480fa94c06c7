"""A full and a read-only disk under a scan-check station (issue 19, finding 2).

The store lives on a real, small tmpfs the test mounts (the tests run as root here;
elsewhere they skip): the disk is filled with a file until ENOSPC, then remounted
read-only, so SQLite meets the real SQLITE_FULL and read-only errors, not mocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cloud.catalogue import skus as catalogue
from cloud.db.engine import session_factory, transaction
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.ops import metrics
from edge.stations.common import Signal
from protocol.messages import CatalogueUpsert
from simulators.broker import PrivateBroker
from tests.support import until

GOOD = "6901234567892"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own."""
    where = tmp_path / "disk"
    where.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where))
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {err}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk says ENOSPC; return it (delete it to free the space)."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(block)
    with contextlib.suppress(OSError), open(disk / "filler2", "wb", buffering=0) as f:
        while True:  # the last few bytes
            f.write(b"\0" * 512)
    return filler


class Lights:
    def __init__(self) -> None:
        self.shown: list[tuple[Signal, str]] = []

    def show(self, signal: Signal, text: str) -> None:
        self.shown.append((signal, text))

    def close(self) -> None:
        pass

    def signals(self, since: int = 0) -> list[Signal]:
        return [s for s, _ in self.shown[since:]]


def config(data_dir: Path, mqtt_port: int) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "node": {"id": f"disk-{uuid.uuid4().hex[:8]}", "data_dir": str(data_dir)},
            "mqtt": {"port": mqtt_port},
            "sync": {"retry_interval_s": 0.5, "status_interval_s": 0.5},
        }
    )


@contextlib.asynccontextmanager
async def running(node: EdgeNode) -> Iterator[EdgeNode]:  # type: ignore[misc]
    ready = asyncio.Event()
    task = asyncio.create_task(node.run(ready))
    try:
        await until(lambda: ready.is_set() or task.done(), 15, "the node up")
        if task.done():
            task.result()  # raises what stopped it
        yield node
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def cloud(engine: Engine, port: int) -> Iterator[IngestWorker]:  # type: ignore[misc]
    worker = IngestWorker(
        Settings(mqtt_port=port, mqtt_client_id=f"cloud-{uuid.uuid4().hex[:8]}"),
        session_factory(engine),
    )
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.stats.connected, 10, "ingest connected")
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Scanner:
    """One scanner connection kept open across the whole test, as a real one is."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    async def scan(self, lights: Lights, code: str) -> Signal:
        before = len(lights.shown)
        await asyncio.to_thread(self.sock.sendall, code.encode() + b"\r\n")
        await until(lambda: len(lights.shown) > before, 5, f"a light for {code}")
        return lights.shown[-1][0]


def test_full_then_read_only_disk_shows_fault_backs_off_and_starts_degraded(
    small_disk: Path, broker: PrivateBroker, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with transaction(session_factory(engine)) as s:
        catalogue.upsert_sku(
            s, CatalogueUpsert(sku_code="SKU-1", name="one", barcodes=[GOOD]), datetime.now(UTC)
        )
    cfg = config(small_disk / "edge", broker.port)
    lights = Lights()

    async def disk_full() -> None:
        node = EdgeNode(cfg, lights=lights)
        sessions = 0
        session = node.sync._session

        async def counted(client: object) -> None:
            nonlocal sessions
            sessions += 1
            await session(client)  # type: ignore[arg-type]

        node.sync._session = counted  # type: ignore[method-assign]
        async with running(node):
            async with cloud(engine, broker.port):
                await until(lambda: node.store.lookup_barcode(GOOD) is not None, 10, "catalogue")
                await until(lambda: node.store.backlog() == 0, 10, "the first ack")
            scanner = Scanner(node.scanner.port)
            # The cloud is away: three scans wait for their ack.
            for _ in range(3):
                assert await scanner.scan(lights, GOOD) is Signal.OK
            committed = node.store.last_seq
            # An empty WAL, then a full disk: the next write must grow a file and fails.
            node.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            filler = fill(small_disk)

            # Every scan shows the red FAULT light, no verdict, on the same connection.
            for _ in range(3):
                assert await scanner.scan(lights, GOOD) is Signal.FAULT
            assert node.store.last_seq == committed
            assert node.store.fault is not None and "full" in node.store.fault
            assert "full" in (node.sync.node_state().alarm or "")
            assert metrics.REGISTRY.get_sample_value("guanjia_edge_store_writable") == 0

            # The cloud comes back and acks what it holds; the node cannot record the ack.
            async with cloud(engine, broker.port):
                await until(lambda: sessions >= 3, 10, "the sync to retry")
                first = sessions
                await asyncio.sleep(4)
                retries = sessions - first
                # Backing off (0.5 s doubling, jittered, up to 30 s), not reconnecting at once.
                assert retries <= 6, f"{retries} sync sessions in 4 s on a full disk"
                assert node.store.backlog() == 3

                # Space again: the same connection's next scan is judged, the sync catches up.
                filler.unlink()
                (small_disk / "filler2").unlink()
                since = len(lights.shown)
                assert await scanner.scan(lights, GOOD) is Signal.OK
                assert lights.signals(since) == [Signal.CLEAR, Signal.OK]
                await until(lambda: node.store.backlog() == 0, 40, "the sync after the fault")
            assert node.store.fault is None
            assert metrics.REGISTRY.get_sample_value("guanjia_edge_store_writable") == 1
            scanner.sock.close()

    asyncio.run(asyncio.wait_for(disk_full(), 90))

    # A read-only disk at start: degraded, saying why, refusing scans; not exit 1.
    _mount("-o", "remount,ro", str(small_disk))
    with pytest.raises(OSError, match="Read-only"):
        (small_disk / "probe").write_bytes(b"x")
    lights = Lights()
    caplog.set_level(logging.ERROR)

    async def read_only() -> None:
        node = EdgeNode(cfg, lights=lights)
        async with running(node):
            assert node.store.read_only
            assert lights.signals() == [Signal.FAULT]
            assert "read-only" in lights.shown[0][1]
            alarm = node.sync.node_state().alarm or ""
            assert "read-only" in alarm
            assert metrics.REGISTRY.get_sample_value("guanjia_edge_store_writable") == 0
            last = node.store.last_seq
            scanner = Scanner(node.scanner.port)
            assert await scanner.scan(lights, GOOD) is Signal.FAULT
            assert await scanner.scan(lights, "999") is Signal.FAULT  # the connection stays
            assert node.store.last_seq == last
            scanner.sock.close()

    started = time.monotonic()
    asyncio.run(asyncio.wait_for(read_only(), 30))
    assert time.monotonic() - started < 30
    assert any("degraded" in r.getMessage() for r in caplog.records)
    assert os.listdir(small_disk / "edge")  # the store is still there, untouched
