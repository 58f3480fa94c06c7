"""One scan end to end: edge node -> real Mosquitto -> cloud ingest -> database -> ack."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cloud.catalogue import skus as catalogue
from cloud.db.engine import session_factory, transaction
from cloud.db.models import Event
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.stations.common import Signal
from protocol.messages import CatalogueUpsert
from simulators.broker import PrivateBroker
from simulators.devices import scanner
from tests.support import until

pytestmark = pytest.mark.e2e


class Recorder:
    def __init__(self) -> None:
        self.shown: list[tuple[Signal, str]] = []

    def show(self, signal: Signal, text: str) -> None:
        self.shown.append((signal, text))

    def close(self) -> None:
        pass


def test_scan_is_committed_synced_stored_and_acked(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        catalogue.upsert_sku(
            s,
            CatalogueUpsert(sku_code="SKU-1", name="one", barcodes=["6901234567892"]),
            datetime.now(UTC),
        )
    cfg = EdgeConfig.model_validate(
        {
            "node": {"id": "wh1-pack-1", "data_dir": str(tmp_path / "edge")},
            "mqtt": {"port": broker.port},
            "sync": {"retry_interval_s": 1.0},
        }
    )
    lights = Recorder()

    async def main() -> None:
        worker = IngestWorker(Settings(mqtt_port=broker.port, mqtt_client_id="cloud-e2e"), sessions)
        node = EdgeNode(cfg, lights=lights)
        ready = asyncio.Event()
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(node.run(ready))]
        try:
            await until(ready.is_set)
            await until(lambda: node.store.lookup_barcode("6901234567892") is not None)
            port = node.scanner.port
            await asyncio.to_thread(scanner.send, "127.0.0.1", port, ["6901234567892", "999"])
            await until(lambda: len(lights.shown) == 2)
            await until(lambda: node.store.acked_through == node.store.last_seq == 3)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    asyncio.run(main())
    assert [s for s, _ in lights.shown] == [Signal.OK, Signal.UNKNOWN]
    with sessions() as s:
        rows = s.execute(select(Event).order_by(Event.seq)).scalars().all()
    assert [(r.seq, r.type) for r in rows] == [
        (1, "node.started"),
        (2, "scan.recorded"),
        (3, "scan.recorded"),
    ]
    assert rows[1].payload["sku_code"] == "SKU-1"
    assert rows[2].payload["verdict"] == "unknown"
