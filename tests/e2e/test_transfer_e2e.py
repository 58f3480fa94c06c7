"""A transfer end to end through the real broker: the hub ships WH2 → WH1, the receiving
node at WH1 gets ``transfer.release`` over MQTT (its pull), receives the goods at its
receiving station (scanner port, label printer simulator) by scanning the transfer's
number, and its ``transfer.received`` fact comes back over MQTT and is booked once: the
goods in WH1, nothing in transit. On SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Account, StockLevel, Warehouse
from cloud.inbound import transfer_moves, transfers
from cloud.seed import seed_demo
from cloud.settings import Settings
from cloud.stock import ledger
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from cloud.sync.worker import IngestWorker
from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.stations.common import Signal
from simulators.broker import PrivateBroker
from simulators.devices import scanner
from tests.cloud.conftest import PASSWORD
from tests.support import until

pytestmark = pytest.mark.e2e
NODE = "wh1-inbound-e2e"
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"


class Lights:
    def __init__(self) -> None:
        self.shown: list[tuple[Signal, str]] = []

    def show(self, signal: Signal, text: str) -> None:
        self.shown.append((signal, text))

    def close(self) -> None:
        pass


def _wh1(s: Session, acct: int) -> tuple[int, int]:
    """On hand and damaged of the leather cover in WH1."""
    level = s.execute(
        select(StockLevel)
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        .where(
            Warehouse.account_id == acct, Warehouse.code == "WH1", StockLevel.sku_code == LEATHER
        )
    ).scalar_one()
    return level.on_hand, level.damaged


def test_a_transfer_travels_hub_broker_node_and_back(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        made = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
        acct = int(made["account_id"])
        create_warehouse(s, acct, WarehouseIn(code="WH2", name="二号仓"), "test", now)
        ledger.receive(s, acct, "WH2", LEATHER, 8, "test", now)
        transfers.create(
            s,
            acct,
            "TR-E2E-1",
            "same_price",
            "WH2",
            "WH1",
            [transfers.LineIn(LEATHER, 5)],
            "test",
            now,
            audit=True,
        )
        transfers.ship(s, acct, "TR-E2E-1", "test", now)
        before = _wh1(s, acct)

    async def main() -> Lights:
        cfg = EdgeConfig.model_validate(
            {
                "node": {"id": NODE, "data_dir": str(tmp_path / "edge")},
                "mqtt": {"port": broker.port},
                "sync": {"retry_interval_s": 1.0},
                "station": {"kind": "inbound", "name": NODE},
                "receive": {"warehouse": "WH1", "labels": "off"},
            }
        )
        lights = Lights()
        worker = IngestWorker(
            Settings(mqtt_port=broker.port, mqtt_client_id="cloud-e2e-transfer"), sessions
        )
        node = EdgeNode(cfg, lights=lights)
        ready = asyncio.Event()
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(node.run(ready))]

        async def scan(text: str) -> tuple[Signal, str]:
            before = len(lights.shown)
            await asyncio.to_thread(scanner.send, "127.0.0.1", node.scanner.port, [text])
            await until(lambda: len(lights.shown) > before)
            await asyncio.sleep(0.035)  # past the double-read window
            return lights.shown[-1]

        def released() -> bool:
            row = node.store.conn.execute(
                "SELECT status FROM transfer_release WHERE transfer_number = 'TR-E2E-1'"
            ).fetchone()
            return row is not None and row[0] == "open"

        try:
            await until(ready.is_set)
            await until(released, timeout=30)
            assert (await scan("TR-E2E-1"))[0] is Signal.PROMPT
            for _ in range(3):
                assert (await scan(LEATHER))[0] is Signal.OK
            assert (await scan("#GJ:FAIL:外箱破损"))[0] is Signal.PROMPT
            assert (await scan(LEATHER))[0] is Signal.OK
            signal, text = await scan("#GJ:FINISH")
            while signal is not Signal.COMPLETE:
                m = re.search(r"away in bin (\S+) ", text)
                assert m is not None, text
                signal, text = await scan(m.group(1))
            await until(lambda: node.store.acked_through == node.store.last_seq, timeout=30)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        return lights

    asyncio.run(asyncio.wait_for(main(), 120))
    with transaction(sessions) as s:
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        t = transfers.get(s, acct, "TR-E2E-1")
        (line,) = transfers.lines_of(s, t)
        assert (t.status, line.shipped, line.received, line.rejected) == (
            "partially_received",
            5,
            4,
            1,
        )
        assert len(transfer_moves.receipts_of(s, t)) == 1
        assert _wh1(s, acct) == (before[0] + 3, before[1] + 1)
