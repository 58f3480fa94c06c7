"""``guanjia bench station`` scan -> verdict: the pack station on a full store.

The store holds ``orders`` released orders and ``events`` outbox events (a node
that was offline for a long while). The pack daemon (EdgeNode + PackRuntime,
scale on the pty simulator) runs on this thread's event loop; another thread
plays the operator on the real scanner port, one scan at a time, cycling
waybill -> item -> item -> ABANDON key over random orders. Each latency is
measured inside the daemon, from the scan line arriving to the light command
issued, with the durable (fsynced) commit of the verdict in between.
Target: p99 <= 10 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.devices.scale import Scale
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.pack import PackRuntime
from edge.stations.common import Signal
from edge.store import replica
from edge.store.store import Store
from protocol.messages import (
    CatalogueUpsert,
    CatalogueUpserted,
    OrderLine,
    OrderRelease,
    OrderReleased,
    Recipient,
    ScanPayload,
)

_ITEM_A, _ITEM_B = "6900000000011", "6900000000035"


class _Signalled:
    """Lights that tell the operator thread a verdict was shown."""

    def __init__(self) -> None:
        self.shown = threading.Event()
        self.count = 0

    def show(self, signal: Signal, text: str) -> None:
        self.count += 1
        self.shown.set()

    def close(self) -> None:
        pass


def fill(store: Store, orders: int, events: int, chunk: int = 20_000) -> tuple[float, float]:
    """Seconds to write the orders and the outbox events."""
    t0 = time.perf_counter()
    skus = [
        CatalogueUpsert(sku_code="TEE-A-RED", name="tee", barcodes=[_ITEM_A], weight_g=200),
        CatalogueUpsert(sku_code="BOOK-1", name="book", barcodes=[_ITEM_B], weight_g=500),
    ]
    who = Recipient(name="Li Lei", phone="13800000000", province="ZJ", city="HZ", address="1 Rd")
    lines = [
        OrderLine(line_id="1", sku_code="TEE-A-RED", qty=2),
        OrderLine(line_id="2", sku_code="BOOK-1", qty=1),
    ]
    with store.atomic() as conn:
        for s in skus:
            replica.apply_change(conn, CatalogueUpserted(seq=1, payload=s))
    for start in range(0, orders, chunk):
        with store.atomic() as conn:
            for i in range(start, min(orders, start + chunk)):
                release = OrderRelease(
                    order_id=f"O{i:07d}",
                    version=1,
                    carrier="SF",
                    waybill=f"SF{i:09d}",
                    box_type="S",
                    recipient=who,
                    lines=lines,
                )
                replica.apply_change(conn, OrderReleased(seq=1, payload=release))
    t1 = time.perf_counter()
    store.start_epoch("bench", "pack")  # the backlog was written in an earlier run
    for start in range(0, events, chunk):
        with store.atomic():
            for i in range(start, min(events, start + chunk)):
                store.append(
                    ScanPayload(station="pack-1", barcode=f"69{i:011d}", verdict="unknown")
                )
    return t1 - t0, time.perf_counter() - t1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _operator(
    port: int, orders: int, scans: int, lights: _Signalled, seed: int, errors: list[str]
) -> None:
    rng = random.Random(seed)
    cycle = ["{waybill}", _ITEM_A, _ITEM_B, "#GJ:ABANDON"]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            waybill = ""
            for n in range(scans):
                step = cycle[n % len(cycle)]
                if step == "{waybill}":
                    waybill = f"SF{rng.randrange(orders):09d}"
                    step = waybill
                lights.shown.clear()
                conn.sendall(step.encode() + b"\r\n")
                if not lights.shown.wait(5):
                    errors.append(f"no light for scan {n} ({step})")
                    return
    except OSError as err:
        errors.append(f"scanner connection: {err}")


def bench_scan_latency(
    orders: int = 100_000, events: int = 1_000_000, scans: int = 2000, seed: int = 1
) -> dict[str, float]:
    """Pack station scan -> light (durable commit first) on a full store: p50/p99/max ms.

    The scan -> verdict path never touches the scale, and edge code may not import the
    simulators (docs/architecture.md): the scale port is left unanswered, so the station
    shows one FAULT light when it notices, outside the measured scans.
    """
    with tempfile.TemporaryDirectory(prefix="guanjia-bench-station-") as tmp:
        data_dir = Path(tmp) / "edge"
        store = Store(data_dir / "edge.db", "wh1-pack-1")
        try:
            fill_orders_s, fill_events_s = fill(store, orders, events)
        finally:
            store.close()
        latencies, steps = asyncio.run(
            _drive(data_dir, orders, scans, seed, str(Path(tmp) / "no-scale"))
        )
    ordered = sorted(latencies)
    ms = 1000.0
    return {
        "orders": float(orders),
        "outbox_events": float(events),
        "scans": float(len(ordered)),
        "station_steps": float(steps),
        "fill_orders_s": fill_orders_s,
        "fill_events_s": fill_events_s,
        "p50_ms": _percentile(ordered, 0.50) * ms,
        "p99_ms": _percentile(ordered, 0.99) * ms,
        "max_ms": (ordered[-1] if ordered else float("nan")) * ms,
    }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _drive(
    data_dir: Path, orders: int, scans: int, seed: int, scale_port: str
) -> tuple[list[float], int]:
    cfg = EdgeConfig.model_validate(
        {
            "node": {"id": "wh1-pack-1", "data_dir": str(data_dir)},
            "mqtt": {"port": _free_port()},  # no hub: this bench is the offline station
            "station": {"kind": "pack", "name": "pack-1"},
            "scanner": {"port": 0},
            "scale": {"port": scale_port},
            "printers": [
                {"name": "sf-1", "courier": "SF", "host": "127.0.0.1", "port": _free_port()}
            ],
        }
    )
    lights = _Signalled()
    built: list[PackRuntime] = []

    def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
        printers = {"sf-1": LabelPrinter("127.0.0.1", cfg.printers[0].port, name="sf-1")}
        scale = Scale(scale_port)
        built.append(PackRuntime(store, li, cfg, scale=scale, printers=printers, kick=kick))
        return built[0]

    node = EdgeNode(cfg, lights=lights, runtime=build)
    ready = asyncio.Event()
    task = asyncio.create_task(node.run(ready))
    try:
        await ready.wait()
        runtime = built[0]
        runtime.latencies.clear()
        errors: list[str] = []
        await asyncio.to_thread(_operator, node.scanner.port, orders, scans, lights, seed, errors)
        if errors:
            raise RuntimeError(errors[0])
        return list(runtime.latencies), runtime.steps
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
