"""The new serial's label through the real broker (docs/inbound.md "The new serial's label"):
a receiving node that was offline when the lead gave a unit a new serial comes back, pulls
the ``serial.label`` from the hub's ingest worker over Mosquitto, prints it once on the label
printer simulator, and its ``serial.label_printed`` reaches the hub, which records when and
by which node. Both databases (the ``engine`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Account
from cloud.db.serials import SerialLabelRequest
from cloud.inbound import receipts, serial_conflicts
from cloud.nodes.registry import station_kinds
from cloud.seed import seed_demo
from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.receive import ReceiveRuntime
from edge.store.store import Store
from simulators.broker import PrivateBroker
from simulators.devices.printer import LabelPrinterSimulator
from tests.edge.runtimes.receiving import Recorder
from tests.support import free_port, until
from tests.sync.harness import ingest_in_thread

RCV = "wh1-rcv-e2e"
SERIAL = "SN-E2E-0001"
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"  # on the seeded PO-2026-001


@contextlib.asynccontextmanager
async def running(cfg: EdgeConfig, sim: LabelPrinterSimulator) -> AsyncIterator[EdgeNode]:
    def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
        printer = LabelPrinter("127.0.0.1", sim.port, name="item-labels")
        return ReceiveRuntime(store, li, cfg, printer=printer, kick=kick)

    node = EdgeNode(cfg, lights=Recorder(cfg.node.data_dir / "edge.db"), runtime=build)
    ready = asyncio.Event()
    task = asyncio.create_task(node.run(ready))
    await until(ready.is_set)
    try:
        yield node
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _label(engine: Engine) -> SerialLabelRequest | None:
    with session_factory(engine)() as s:
        return s.execute(select(SerialLabelRequest)).scalars().first()


def test_an_offline_node_prints_the_label_when_it_comes_back(
    engine: Engine, broker: PrivateBroker, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as s:
        seed_demo(s, now, password="pw-of-the-demo-1", node_ids=[RCV])
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
    cfg = EdgeConfig.model_validate(
        {
            "node": {"id": RCV, "data_dir": str(tmp_path / "edge")},
            "mqtt": {"port": broker.port},
            "scanner": {"port": free_port()},
            "sync": {"retry_interval_s": 0.5, "status_interval_s": 1.0},
            "station": {"kind": "inbound", "name": RCV},
            "receive": {"warehouse": "WH1", "printer_host": "127.0.0.1", "printer_port": 1},
        }
    )

    def kinds() -> dict[str, str]:
        with session_factory(engine)() as s:
            return station_kinds(s, [RCV])

    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            # The node starts once (the hub learns it runs a receiving station), then goes
            # offline.
            async with running(cfg, sim):
                await until(lambda: kinds().get(RCV) == "inbound", 30, "node.started ingested")
            # Offline: two units received with one serial; the lead gives one a new serial.
            with transaction(session_factory(engine)) as s:
                for rid in ("E2E-RC-1", "E2E-RC-2"):
                    line = receipts.ReceiptLine(LEATHER, 1, serials=(SERIAL,))
                    serial_conflicts.record_receipt(
                        s, account, "PO-2026-001", rid, "WH1", [line], "admin", now
                    )
                new = serial_conflicts.resolve(
                    s, account, SERIAL, "E2E-RC-2", "new_serial", "admin", now
                ).new_serial
            label = _label(engine)
            assert label is not None and label.node_id == RCV and label.printed_at is None
            # Back online: it pulls the request, prints it once, and reports it.
            async with running(cfg, sim):
                await until(lambda: len(sim.printed) == 1, 30, "the label printed")
                await until(
                    lambda: (x := _label(engine)) is not None and x.printed_at is not None,
                    30,
                    "the printed fact at the hub",
                )
            assert sim.printed[0].layout.barcodes() == [LEATHER_CODE, new]
            # A restart prints nothing more.
            async with running(cfg, sim):
                await asyncio.sleep(1.0)
            assert len(sim.printed) == 1

    with ingest_in_thread(engine, broker.port):
        asyncio.run(asyncio.wait_for(main(), 120))
    label = _label(engine)
    assert label is not None and label.printed_by == RCV and label.printer == "item-labels"
    assert label.sends == 1 and not label.unconfirmed


#: The label's item barcode: the SKU's code is Chinese, so its first Code 128-safe barcode.
LEATHER_CODE = "6901234567892"
