"""Shared set-up for the station runtime tests: a seeded replica, simulators, a light recorder."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from edge.cli import app as edge_cli
from edge.config import EdgeConfig
from edge.devices.base import reconnect_backoff
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.devices.scale import Scale
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.pack import PackRuntime
from edge.stations.common import Signal
from edge.store.store import Store
from protocol.messages import (
    BinInfo,
    BinsUpsert,
    BinsUpserted,
    CatalogueUpsert,
    CatalogueUpserted,
    Change,
    DownBatch,
    OrderLine,
    OrderRelease,
    OrderReleased,
    Recipient,
    StockExpected,
    StockExpectedSet,
    StockLevel,
)
from simulators.devices.printer import LabelPrinterSimulator
from simulators.devices.scale import ScaleSimulator
from tests.support import free_port, until

NODE = "wh1-pack-1"
LEAD_PIN = "4711"


def _hash_pin_command(pin: str) -> str:
    """The hash a lead puts in ``[pack.leads]``: what ``guanjia edge hash-pin`` prints."""
    result = CliRunner().invoke(edge_cli, ["hash-pin", "--pin", pin])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


LEAD_PIN_HASH = _hash_pin_command(LEAD_PIN)
RED, BLUE, BOOK = "6900000000011", "6900000000028", "6900000000035"
SKUS = [
    CatalogueUpsert(sku_code="TEE-A-RED", name="tee red", barcodes=[RED], weight_g=200),
    CatalogueUpsert(sku_code="TEE-A-BLUE", name="tee blue", barcodes=[BLUE], weight_g=200),
    CatalogueUpsert(sku_code="BOOK-1", name="book", barcodes=[BOOK], weight_g=500),
]
#: TEE-A-RED x2 + BOOK-1 + 100 g box: 1000 g expected.
ORDER_WEIGHT = 1000


def recipient() -> Recipient:
    return Recipient(name="Li Lei", phone="13800000000", province="ZJ", city="HZ", address="1 Rd")


def release(
    order_id: str, waybill: str, version: int = 1, status: str = "released", **kw: Any
) -> OrderRelease:
    lines = kw.pop(
        "lines",
        [
            OrderLine(line_id="1", sku_code="TEE-A-RED", qty=2),
            OrderLine(line_id="2", sku_code="BOOK-1", qty=1),
        ],
    )
    return OrderRelease(
        order_id=order_id,
        version=version,
        status=status,  # type: ignore[arg-type]
        carrier="SF",
        waybill=waybill,
        box_type="S",
        recipient=recipient(),
        lines=lines,
    )


def seed(store: Store, orders: Sequence[OrderRelease] = (), extra: Sequence[Change] = ()) -> None:
    changes: list[Change] = [CatalogueUpserted(seq=1, payload=s) for s in SKUS]
    changes += [OrderReleased(seq=1, payload=o) for o in orders]
    changes += list(extra)
    push(store, changes)


def push(store: Store, changes: Sequence[Change]) -> DownBatch:
    """Apply changes as the next downlink batch (sequence numbers assigned here)."""
    start = store.down_applied
    numbered = [c.model_copy(update={"seq": start + i + 1}) for i, c in enumerate(changes)]
    batch = DownBatch(node=NODE, changes=numbered, head=start + len(numbered))  # type: ignore[arg-type]
    assert store.apply_down(batch) == len(numbered)
    return batch


def bins_and_stock() -> list[Change]:
    bins = [
        BinInfo(code=f"B{i}", zone="pick", x=1, y=i, walk_order=i, barcode=f"BIN-{i}")
        for i in range(1, 4)
    ]
    return [
        BinsUpserted(seq=1, payload=BinsUpsert(warehouse="wh1", bins=bins)),
        StockExpectedSet(
            seq=1,
            payload=StockExpected(
                warehouse="wh1",
                bins=["B1", "B2", "B3"],
                levels=[
                    StockLevel(bin="B1", sku_code="TEE-A-RED", qty=2),
                    StockLevel(bin="B2", sku_code="BOOK-1", qty=1),
                    StockLevel(bin="B3", sku_code="BOOK-1", qty=4),
                ],
            ),
        ),
    ]


def pack_config(data_dir: Path, scale_port: str, printer_port: int, **pack: Any) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "node": {"id": NODE, "data_dir": str(data_dir)},
            "mqtt": {"port": free_port()},  # nobody listens: sync retries quietly
            "station": {"kind": "pack", "name": "pack-1"},
            "scanner": {"port": 0},
            "scale": {"port": scale_port, "silence_timeout_s": 0.4},
            "printers": [
                {"name": "sf-1", "courier": "SF", "host": "127.0.0.1", "port": printer_port}
            ],
            "pack": {
                "packaging_g": {"S": 100},
                "leads": {"lead7": LEAD_PIN_HASH},
                "weigh_timeout_s": 20,
                "printer_poll_s": 0.1,
                **pack,
            },
        }
    )


class Recorder(Lights):
    """Records each light and proves, at that moment, its verdict is committed.

    A second SQLite connection sees only committed rows: a light whose text is
    not in the journal yet would mean the light came before the commit.
    """

    def __init__(self, db: Path) -> None:
        self.shown: list[tuple[Signal, str]] = []
        self.db = db
        self.not_durable: list[str] = []

    def show(self, signal: Signal, text: str) -> None:
        conn = sqlite3.connect(self.db)
        try:
            row = conn.execute("SELECT 1 FROM journal WHERE text = ?", (text,)).fetchone()
        finally:
            conn.close()
        if row is None:
            self.not_durable.append(text)
        self.shown.append((signal, text))

    def close(self) -> None:
        pass

    def signals(self) -> list[Signal]:
        return [s for s, _ in self.shown]


@dataclass
class PackRig:
    node: EdgeNode
    runtime: PackRuntime
    lights: Recorder
    scale_sim: ScaleSimulator
    printer_sim: LabelPrinterSimulator

    @property
    def store(self) -> Store:
        return self.node.store

    async def scan(self, *lines: str, raw: bytes | None = None, settle: int | None = None) -> None:
        """Send lines through the real scanner port; wait until each got its light."""
        before = len(self.lights.shown)
        data = raw if raw is not None else b"".join(s.encode() + b"\r\n" for s in lines)
        await asyncio.to_thread(_send, self.node.scanner.port, data)
        want = before + (settle if settle is not None else len(lines))
        await until(lambda: len(self.lights.shown) >= want)

    def facts(self) -> list[str]:
        return [r[0] for r in self.store.conn.execute("SELECT type FROM outbox ORDER BY seq")]

    def verdicts(self) -> list[str]:
        return [r[0] for r in self.store.conn.execute("SELECT kind FROM journal ORDER BY id")]

    def last(self) -> tuple[Signal, str]:
        return self.lights.shown[-1]


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)


@contextlib.asynccontextmanager
async def pack_rig(
    tmp_path: Path, orders: Sequence[OrderRelease] = (), **pack: Any
) -> AsyncIterator[PackRig]:
    async with (
        ScaleSimulator("mt-sics", weight=0, settle_time=0.05) as scale_sim,
        LabelPrinterSimulator() as printer_sim,
    ):
        cfg = pack_config(tmp_path / "edge", scale_sim.port, printer_sim.port, **pack)
        lights = Recorder(cfg.node.data_dir / "edge.db")
        built: list[PackRuntime] = []

        def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
            seed(store, orders)
            scale = Scale(
                scale_sim.port,
                silence_timeout=0.4,
                reply_timeout=0.15,
                backoff=reconnect_backoff(base=0.02, cap=0.1),
            )
            printers = {"sf-1": LabelPrinter("127.0.0.1", printer_sim.port, name="sf-1")}
            rt = PackRuntime(store, li, cfg, scale=scale, printers=printers, kick=kick)
            built.append(rt)
            return rt

        node = EdgeNode(cfg, lights=lights, runtime=build)
        ready = asyncio.Event()
        task = asyncio.create_task(node.run(ready))
        await until(ready.is_set)
        rig = PackRig(node, built[0], lights, scale_sim, printer_sim)
        await until(lambda: rig.runtime.scale.health.connected)
        try:
            yield rig
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert lights.not_durable == [], "a light came before its verdict was committed"


def run(coro: Any, timeout: float = 30) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())
