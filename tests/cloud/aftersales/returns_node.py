"""A node's returns station for the hub's tests: the hub's downlink applied to a real node
(scanner port, uplink down), a parcel received through it, the daemon stopped mid-parcel
and started again from its store (test_return_facts.py books what it made)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.returns import ReturnsRuntime
from edge.stations.common import Signal
from edge.store.store import Store
from protocol.messages import EVENT_ADAPTER, DownBatch, Event
from tests.edge.runtimes.receiving import Recorder
from tests.support import free_port, until

Scan = Callable[[str], Awaitable[tuple[Signal, str]]]


async def _session(
    cfg: EdgeConfig,
    lights: Recorder,
    batch: DownBatch | None,
    steps: Callable[[Scan], Awaitable[None]],
) -> None:
    def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
        if batch is not None:
            assert store.apply_down(batch) == len(batch.changes)
        return ReturnsRuntime(store, li, cfg, kick=kick)

    node = EdgeNode(cfg, lights=lights, runtime=build)
    ready = asyncio.Event()
    task = asyncio.create_task(node.run(ready))
    await until(ready.is_set)

    async def scan(text: str) -> tuple[Signal, str]:
        before = len(lights.shown)
        _reader, writer = await asyncio.open_connection("127.0.0.1", node.scanner.port)
        writer.write(text.encode() + b"\r\n")
        await writer.drain()
        writer.close()
        await until(lambda: len(lights.shown) > before)
        await asyncio.sleep(0.035)  # past the double-read window
        return lights.shown[-1]

    try:
        await steps(scan)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def return_at_node(
    tmp_path: Path, node_id: str, batch: DownBatch, parcel: str, barcode: str
) -> tuple[list[Event], list[tuple[Signal, str]]]:
    """Open the parcel, count one unit sellable, stop the daemon; start it again (the open
    parcel resumes from the store), count one damaged unit, an unknown barcode, finish."""
    cfg = EdgeConfig.model_validate(
        {
            "node": {"id": node_id, "data_dir": str(tmp_path / "edge")},
            "mqtt": {"port": free_port()},  # the uplink is down: nobody listens
            "station": {"kind": "returns", "name": node_id},
            "returns": {"warehouse": "WH1", "operator": "R07"},
        }
    )
    lights = Recorder(cfg.node.data_dir / "edge.db")

    async def first(scan: Scan) -> None:
        assert (await scan("NO-SUCH-PARCEL"))[0] is Signal.UNKNOWN
        assert (await scan(parcel))[0] is Signal.PROMPT
        assert (await scan(barcode))[0] is Signal.OK

    async def second(scan: Scan) -> None:
        await until(lambda: any("resumed" in t for _, t in lights.shown))
        assert (await scan("#GJ:DAMAGED:外壳裂"))[0] is Signal.PROMPT
        assert (await scan(barcode))[0] is Signal.OK
        signal, text = await scan("0000UNKNOWN")
        assert signal is Signal.UNKNOWN and "unknown barcode 0000UNKNOWN" in text
        signal, text = await scan("#GJ:FINISH")
        assert signal is Signal.COMPLETE, text

    await _session(cfg, lights, batch, first)
    await _session(cfg, lights, None, second)  # the daemon restarted
    assert lights.not_durable == []
    store = Store(cfg.node.data_dir / "edge.db", node_id)
    try:
        rows = store.conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
        return [EVENT_ADAPTER.validate_json(r[0]) for r in rows], lights.shown
    finally:
        store.close()
