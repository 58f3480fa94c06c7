"""A return end to end through the real broker: the hub approves an after-sales request,
the returns node receives its ``return.release`` over the downlink, the parcel is scanned
and QC'd at the node's returns station across a daemon restart, and the ``return.received``
fact reaches the hub's ingest through Mosquitto and is booked once — also after the node
restarts again and its stream is replayed (docs/inbound.md "Returns and exchanges")."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cloud.aftersales import requests, workflow
from cloud.db.aftersales import AftersalesRequest
from cloud.db.engine import session_factory, transaction
from cloud.db.models import StockLevel, StockMovement, Warehouse
from cloud.orders import arrival
from cloud.orders.core import LineIn, OrderIn
from cloud.orders.release import release
from cloud.orders.workflow import ship
from cloud.seed import seed_demo
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.stations.common import Signal
from simulators.broker import PrivateBroker
from simulators.devices import scanner
from tests.cloud.conftest import PASSWORD
from tests.support import until

pytestmark = pytest.mark.e2e

NODE = "wh1-returns-1"
SKU = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
BARCODE = "6901234567908"
ORDER = "RT-E2E-1"


class Recorder:
    def __init__(self) -> None:
        self.shown: list[tuple[Signal, str]] = []

    def show(self, signal: Signal, text: str) -> None:
        self.shown.append((signal, text))

    def close(self) -> None:
        pass


def _hub(engine: Engine) -> tuple[int, str]:
    """The demo seller, the node assigned to WH1, a shipped order and its approved return."""
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        a = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])["account_id"]
    with transaction(sessions) as s:
        body = OrderIn(
            order_no=ORDER,
            buyer_nick="退货买家",
            recipient={  # type: ignore[arg-type]
                "name": "退货买家",
                "phone": "13800000077",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "address": "文三路77号",
            },
            lines=[LineIn(line_id="1", sku_code=SKU, qty=2, price_cents=5900)],
            warehouse="WH1",
        )
        arrival.create_orders(s, a, [body], "test", now)
    with transaction(sessions) as s:
        release(s, a, ORDER, "test", now)
        ship(s, a, ORDER, "test", now)
    with transaction(sessions) as s:
        req, _ = requests.create(s, a, ORDER, "return", [requests.LineIn("1", 2)], "cs", now)
        number = req.number
        workflow.approve(s, a, number, "cs", now, None)
    return a, number


def _on_hand(engine: Engine, a: int) -> tuple[int, int]:
    with session_factory(engine)() as s:
        row = s.execute(
            select(StockLevel.on_hand, StockLevel.damaged)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(Warehouse.account_id == a, Warehouse.code == "WH1", StockLevel.sku_code == SKU)
        ).one()
    return int(row[0]), int(row[1])


def test_a_return_is_released_scanned_across_a_restart_and_booked_once(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    a, number = _hub(engine)
    before = _on_hand(engine, a)
    sessions = session_factory(engine)
    cfg = EdgeConfig.model_validate(
        {
            "node": {"id": NODE, "data_dir": str(tmp_path / "edge")},
            "mqtt": {"port": broker.port},
            "sync": {"retry_interval_s": 1.0},
            "station": {"kind": "returns", "name": NODE},
            "returns": {"warehouse": "WH1", "operator": "R07"},
        }
    )
    lights = Recorder()

    async def session(steps: list[str], *, wait_release: bool) -> None:
        worker = IngestWorker(
            Settings(mqtt_port=broker.port, mqtt_client_id="cloud-e2e-returns"), sessions
        )
        node = EdgeNode(cfg, lights=lights)
        ready = asyncio.Event()
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(node.run(ready))]
        try:
            await until(ready.is_set)
            if wait_release:
                await until(
                    lambda: (
                        node.store.conn.execute(
                            "SELECT 1 FROM return_release WHERE request = ?", (number,)
                        ).fetchone()
                        is not None
                    ),
                    timeout=30,
                )
            for text in steps:
                n = len(lights.shown)
                await asyncio.to_thread(scanner.send, "127.0.0.1", node.scanner.port, [text])
                await until(lambda n=n: len(lights.shown) > n)
                await asyncio.sleep(0.05)  # past the double-read window
            await until(lambda: node.store.acked_through == node.store.last_seq, timeout=30)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    # The parcel found by its order number, one unit sellable; the daemon stops.
    asyncio.run(session([ORDER, BARCODE], wait_release=True))
    assert [s for s, _ in lights.shown[-2:]] == [Signal.PROMPT, Signal.OK]
    # Started again: the open parcel resumes; one unit damaged, then FINISH.
    asyncio.run(session(["#GJ:DAMAGED:外壳裂", BARCODE, "#GJ:FINISH"], wait_release=False))
    assert lights.shown[-1][0] is Signal.COMPLETE, lights.shown[-1]
    assert any("resumed" in t for _, t in lights.shown)
    after = _on_hand(engine, a)
    assert after == (before[0] + 1, before[1] + 1)
    with sessions() as s:
        req = s.execute(
            select(AftersalesRequest).where(AftersalesRequest.number == number)
        ).scalar_one()
        assert req.status == "received" and req.receipt_id == f"{NODE}-T000001"
        moves = s.execute(
            select(func.count()).where(StockMovement.document == f"as:{number}")
        ).scalar_one()
        assert moves == 2
    # Once more: the node restarts and reconnects (its acked stream is not sent again, and
    # a replay would book nothing): the same figures.
    asyncio.run(session([], wait_release=False))
    assert _on_hand(engine, a) == after
