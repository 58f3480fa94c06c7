"""A node's receiving station for the hub's tests: the hub's downlink applied to a real node
with its scanner port and a label printer simulator (uplink down), a PO received through it
(test_receipt_facts.py books what it made)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from cloud.db.models import Node
from cloud.nodes.downlink import downlink_after
from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.receive import ReceiveRuntime
from edge.stations.common import Signal
from edge.store.store import Store
from protocol.messages import EVENT_ADAPTER, DownBatch, Event
from simulators.devices.printer import LabelPrinterSimulator
from tests.cloud.inbound.conftest import Po
from tests.edge.runtimes.receiving import Recorder
from tests.support import free_port, until


def downlink(demo: TestClient, node_id: str) -> DownBatch:
    with demo.app.state.sessions() as s:  # type: ignore[attr-defined]
        node = s.get(Node, node_id)
        assert node is not None
        return downlink_after(s, node, 0, limit=100_000)


async def receive_at_node(tmp_path: Path, node_id: str, batch: DownBatch, po: Po) -> list[Event]:
    """Receive the PO at the node: 3 pass, 1 QC fail, each group put away where suggested."""
    async with LabelPrinterSimulator() as printer_sim:
        cfg = EdgeConfig.model_validate(
            {
                "node": {"id": node_id, "data_dir": str(tmp_path / "edge")},
                "mqtt": {"port": free_port()},  # the uplink is down: nobody listens
                "station": {"kind": "inbound", "name": node_id},
                "receive": {
                    "warehouse": "WH1",
                    "labels": "every_unit",
                    "printer_host": "127.0.0.1",
                    "printer_port": printer_sim.port,
                },
            }
        )
        lights = Recorder(cfg.node.data_dir / "edge.db")
        built: list[ReceiveRuntime] = []

        def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
            assert store.apply_down(batch) == len(batch.changes)
            printer = LabelPrinter("127.0.0.1", printer_sim.port, name="items")
            built.append(ReceiveRuntime(store, li, cfg, printer=printer, kick=kick))
            return built[0]

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

        barcode = f"69{po.number.removeprefix('PO-')}"
        try:
            assert (await scan(po.number))[0] is Signal.PROMPT
            for _ in range(3):
                assert (await scan(barcode))[0] is Signal.OK
            assert (await scan("#GJ:FAIL:外箱破损"))[0] is Signal.PROMPT
            assert (await scan(barcode))[0] is Signal.OK
            signal, text = await scan("#GJ:FINISH")
            while signal is not Signal.COMPLETE:
                m = re.search(r"away in bin (\S+) ", text)
                assert m is not None, text
                signal, text = await scan(m.group(1))
            await until(lambda: len(printer_sim.printed) == 4)
            assert {tuple(p.layout.barcodes()) for p in printer_sim.printed} == {(po.sku,)}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert lights.not_durable == []
        store = Store(cfg.node.data_dir / "edge.db", node_id)
        try:
            rows = store.conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
            return [EVENT_ADAPTER.validate_json(r[0]) for r in rows]
        finally:
            store.close()
