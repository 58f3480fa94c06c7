"""A transfer end to end through the real broker and two edge nodes: the hub audits a
transfer WH2 → WH1 and releases it over MQTT to WH2's pick node (``transfer.outbound``);
an operator picks it there through the node's PDA API (HTTP, the daemon's own), whose
``transfer.shipped`` comes back over MQTT and is booked once (the goods in transit); the
hub then releases it to WH1's receiving node (``transfer.release``), which receives it at
its receiving station (scanner port) by scanning the transfer's number, and its
``transfer.received`` is booked once: the goods in WH1, nothing in transit, nothing
doubled. A serial-tracked line is picked by serial (a serial twice refused at the pick),
the serials travel with the release, and the receiver takes only those (a serial that did
not leave, or an item scan without its serial: red); the serial's trace shows it shipped
from WH2 by the pick node and received in WH1. On SQLite and PostgreSQL (the ``engine``
fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.catalogue.skus import upsert_sku
from cloud.db.engine import session_factory, transaction
from cloud.db.models import Account, Event, StockLevel, Warehouse
from cloud.db.transfers import TransferShipment
from cloud.inbound import transfer_moves, transfers
from cloud.nodes import downlink
from cloud.seed import seed_demo
from cloud.settings import Settings
from cloud.stock import ledger, serials
from cloud.stock.warehouses import WarehouseIn, create_warehouse, upsert_bins
from cloud.sync import assignment
from cloud.sync.worker import IngestWorker
from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.pins import hash_pin
from edge.stations.common import Signal
from protocol.messages import BinInfo, CatalogueUpsert
from simulators.broker import PrivateBroker
from simulators.devices import scanner
from simulators.net import free_port
from tests.cloud.conftest import PASSWORD
from tests.support import until

pytestmark = pytest.mark.e2e
NODE = "wh1-inbound-e2e"
PICKER = "wh2-pick-e2e"
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"
PHONE = "PHONE-E2E"  # serial-tracked: picked and received by serial


class Lights:
    def __init__(self) -> None:
        self.shown: list[tuple[Signal, str]] = []

    def show(self, signal: Signal, text: str) -> None:
        self.shown.append((signal, text))

    def close(self) -> None:
        pass


def _wh1(s: Session, acct: int, code: str = "WH1") -> tuple[int, int]:
    """On hand and damaged of the leather cover in a warehouse."""
    level = s.execute(
        select(StockLevel)
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        .where(Warehouse.account_id == acct, Warehouse.code == code, StockLevel.sku_code == LEATHER)
    ).scalar_one()
    return level.on_hand, level.damaged


def test_a_transfer_travels_sender_node_hub_receiver_node(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        made = seed_demo(s, now, password=PASSWORD, node_ids=[NODE, PICKER])
        acct = int(made["account_id"])
        create_warehouse(s, acct, WarehouseIn(code="WH2", name="二号仓"), "test", now)
        assignment.assign_node(s, acct, PICKER, "WH2", "test", now)
        upsert_bins(
            s,
            acct,
            "WH2",
            [BinInfo(code="B2-01", zone="pick", x=1.0, y=1.0, walk_order=1, barcode="BIN-B2-01")],
            "test",
            now,
        )
        ledger.receive(s, acct, "WH2", LEATHER, 8, "test", now, bin_code="B2-01")
        upsert_sku(
            s,
            CatalogueUpsert(sku_code=PHONE, name="手机", barcodes=[PHONE], serial_tracked=True),
            now,
            acct,
            "test",
        )
        ledger.receive(s, acct, "WH2", PHONE, 2, "test", now, bin_code="B2-01")
        transfers.create(
            s,
            acct,
            "TR-E2E-1",
            "same_price",
            "WH2",
            "WH1",
            [transfers.LineIn(LEATHER, 5), transfers.LineIn(PHONE, 2)],
            "test",
            now,
        )
        before = _wh1(s, acct)
    (tmp_path / "operators.toml").write_text(
        f'[[operator]]\nid = "li.lei"\npin_hash = "{hash_pin("2468")}"\n', encoding="utf-8"
    )
    pick_port = free_port()

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
        picker_cfg = EdgeConfig.model_validate(
            {
                "node": {"id": PICKER, "data_dir": str(tmp_path / "picker")},
                "mqtt": {"port": broker.port},
                "sync": {"retry_interval_s": 1.0},
                "station": {"kind": "pick", "name": PICKER},
                "scanner": {"port": 0},
                "pick": {
                    "operators": str(tmp_path / "operators.toml"),
                    "host": "127.0.0.1",
                    "port": pick_port,
                    "warehouse": "WH2",
                },
            }
        )
        lights = Lights()
        worker = IngestWorker(
            Settings(mqtt_port=broker.port, mqtt_client_id="cloud-e2e-transfer"), sessions
        )
        node = EdgeNode(cfg, lights=lights)
        picker = EdgeNode(picker_cfg, lights=Lights())
        ready, picker_ready = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(worker.run()),
            asyncio.create_task(node.run(ready)),
            asyncio.create_task(picker.run(picker_ready)),
        ]

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

        def said_pick() -> bool:
            with sessions() as s:
                return bool(
                    s.execute(
                        select(func.count())
                        .select_from(Event)
                        .where(Event.node_id == PICKER, Event.type == "node.started")
                    ).scalar_one()
                )

        def outbound() -> bool:
            row = picker.store.conn.execute(
                "SELECT status FROM transfer_outbound WHERE transfer_number = 'TR-E2E-1'"
            ).fetchone()
            return row is not None and row[0] == "open"

        async def pick() -> None:
            """The transfer picked on the PDA API of WH2's node, as the PDA would."""
            barcode = picker.store.conn.execute(
                "SELECT barcode FROM barcode WHERE sku_code = ? LIMIT 1", (LEATHER,)
            ).fetchone()[0]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{pick_port}/api/v1") as http:
                r = await http.post("/login", json={"operator": "li.lei", "pin": "2468"})
                auth = {"Authorization": f"Bearer {r.json()['token']}"}
                waves = (await http.get("/waves", headers=auth)).json()
                assert {"wave": "TR-E2E-1", "kind": "transfer"}.items() <= waves[0].items()
                r = await http.post("/waves/TR-E2E-1/start", headers=auth)
                assert r.status_code == 200, r.text

                async def scan(code: str) -> dict[str, object]:
                    await asyncio.sleep(0.035)  # past the double-read window
                    got = await http.post("/scan", headers=auth, json={"barcode": code})
                    return dict(got.json())

                while r.json()["state"] != "done":
                    stop = r.json()["next"]
                    assert stop["bin"] == "B2-01"
                    await scan("BIN-B2-01")
                    if stop["sku_code"] == PHONE:
                        assert (await scan(PHONE))["expect"] == "serial"
                        assert (await scan("SN-E2E-1"))["kind"] == "item.ok"
                        await scan(PHONE)
                        twice = await scan("SN-E2E-1")  # a serial is one unit: refused
                        assert twice["kind"] == "item.serial_twice", twice
                        last = await scan("SN-E2E-2")
                    else:
                        assert stop["qty"] == 5
                        for _ in range(5):
                            last = await scan(barcode)
                    r = httpx.Response(200, json=last)
                assert r.json()["kind"] == "wave.done", r.text

        def shipped() -> bool:
            with sessions() as s:
                t = transfers.get(s, acct, "TR-E2E-1")
                return t.status == "shipped"

        try:
            await until(ready.is_set)
            await until(picker_ready.is_set)
            # The hub leases the transfer's pick to a node it knows runs a pick station.
            await until(said_pick, timeout=30)
            with transaction(sessions) as s:
                transfers.audit_transfer(s, acct, "TR-E2E-1", "test", datetime.now(UTC))
                pushes = downlink.pushes_of(s)
            worker.push_downlink(pushes)
            await until(outbound, timeout=30)
            await pick()
            await until(shipped, timeout=30)
            await until(released, timeout=30)
            assert (await scan("TR-E2E-1"))[0] is Signal.PROMPT
            for _ in range(3):
                assert (await scan(LEATHER))[0] is Signal.OK
            assert (await scan("#GJ:FAIL:外箱破损"))[0] is Signal.PROMPT
            assert (await scan(LEATHER))[0] is Signal.OK
            # The phones left with their serials: only those are taken.
            signal, text = await scan("SN-E2E-9")
            assert signal is Signal.UNKNOWN and "no serial in transit" in text, text
            signal, text = await scan(PHONE)
            assert signal is Signal.WRONG_ITEM and "scan the serial" in text, text
            assert (await scan("SN-E2E-2"))[0] is Signal.OK
            signal, text = await scan("#GJ:FINISH")
            while signal is not Signal.COMPLETE:
                m = re.search(r"away in bin (\S+) ", text)
                assert m is not None, text
                signal, text = await scan(m.group(1))
            await until(lambda: node.store.acked_through == node.store.last_seq, timeout=30)
            await until(lambda: picker.store.acked_through == picker.store.last_seq, timeout=30)
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
        line, phones = transfers.lines_of(s, t)
        assert (t.status, line.shipped, line.received, line.rejected) == (
            "partially_received",
            5,
            4,
            1,
        )
        assert (phones.shipped, phones.received) == (2, 1)
        steps = [(st.kind, st.node_id, st.warehouse) for st in serials.trace(s, acct, "SN-E2E-2")]
        assert steps[0] == ("transfer_shipped", PICKER, "WH2")
        assert ("transfer_received", NODE, "WH1") in steps
        assert [st.kind for st in serials.trace(s, acct, "SN-E2E-1")] == ["transfer_shipped"]
        assert len(transfer_moves.receipts_of(s, t)) == 1
        assert _wh1(s, acct) == (before[0] + 3, before[1] + 1)
        assert t.shipped_by == f"node:{PICKER}" and t.pick_node == PICKER
        assert _wh1(s, acct, "WH2") == (3, 0)
        (ship,) = s.execute(
            select(TransferShipment).where(TransferShipment.transfer_id == t.id)
        ).scalars()
        assert (ship.node_id, ship.shipment) == (PICKER, 1)
