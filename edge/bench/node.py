"""The node side of ``guanjia bench sync``: fill the outbox offline, then drain it.

Run as its own process by the orchestrator (simulators/bench_sync.py), which
owns the broker and the cloud. Prints one JSON object with the figures:
drain rate, scan-to-verdict latency while draining (scans arrive on the real
scanner port from another thread, timed from the send to the light), and the
process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import orjson

from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.stations.common import Signal
from protocol.messages import CatalogueUpsert, CatalogueUpserted, DownBatch, ScanPayload


class TimingLights:
    """Records when each verdict was shown (the moment the light command is issued)."""

    def __init__(self) -> None:
        self.shown: dict[str, float] = {}

    def show(self, signal: Signal, text: str) -> None:
        for word in text.split():
            if word.startswith("SCAN"):
                self.shown[word] = time.perf_counter()
                return

    def close(self) -> None:
        pass


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB (Linux /proc)."""
    fields = dict(
        line.split(":", 1)
        for line in Path("/proc/self/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def prefill(node: EdgeNode, events: int, chunk: int = 5000) -> float:
    t = time.perf_counter()
    store = node.store
    for start in range(0, events, chunk):
        with store.atomic():
            for i in range(start, min(events, start + chunk)):
                store.record_scan(
                    ScanPayload(
                        station="pack-1", barcode=f"69{i:011d}", sku_code=None, verdict="unknown"
                    )
                )
    return time.perf_counter() - t


def _scanner(port: int, rate: float, stop: threading.Event, sent: dict[str, float]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        n = 0
        while not stop.is_set():
            code = f"SCAN{n:07d}"
            sent[code] = time.perf_counter()
            conn.sendall(code.encode() + b"\r\n")
            n += 1
            time.sleep(1 / rate)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drain_bench(
    config: EdgeConfig, events: int, scan_rate: float, timeout: float
) -> dict[str, float]:
    lights = TimingLights()
    node = EdgeNode(config, lights=lights)
    # A known SKU so scans during the drain are judged against the catalogue, as in production.
    node.store.apply_down(
        DownBatch(
            node=node.store.node_id,
            changes=[
                CatalogueUpserted(
                    seq=1,
                    payload=CatalogueUpsert(sku_code="SKU", name="n", barcodes=["SCAN0000000"]),
                )
            ],
            head=1,
        )
    )
    node.store.start_epoch("bench", "demo")  # the backlog was written in an earlier run
    fill_s = prefill(node, events)
    target = node.store.last_seq + 1  # + node.started
    ready = asyncio.Event()
    task = asyncio.create_task(node.run(ready))
    await ready.wait()
    t0 = time.perf_counter()
    stop = threading.Event()
    sent: dict[str, float] = {}
    feeder = threading.Thread(
        target=_scanner, args=(node.scanner.port, scan_rate, stop, sent), daemon=True
    )
    if scan_rate > 0:
        feeder.start()
    try:
        while node.store.acked_through < target:
            if time.perf_counter() - t0 > timeout:
                break
            await asyncio.sleep(0.01)
        drain_s = time.perf_counter() - t0
        drained = node.store.acked_through
    finally:
        stop.set()
        if scan_rate > 0:
            feeder.join(5)
        await asyncio.sleep(0.2)
        current, peak = rss_mb()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    latencies = [(lights.shown[c] - t) * 1000 for c, t in sent.items() if c in lights.shown]
    return {
        "events": float(events),
        "prefill_s": fill_s,
        "drained": float(drained),
        "drain_s": drain_s,
        "events_per_s": drained / drain_s if drain_s else 0.0,
        "scans": float(len(latencies)),
        "scan_p50_ms": _percentile(latencies, 0.50),
        "scan_p99_ms": _percentile(latencies, 0.99),
        "scan_max_ms": max(latencies) if latencies else float("nan"),
        "rss_mb": current,
        "peak_rss_mb": peak,
    }


def run(config: EdgeConfig, events: int, scan_rate: float, timeout: float) -> None:
    profile_to = os.environ.get("GUANJIA_BENCH_PROFILE")
    if profile_to:  # where the node's time goes, for docs/benchmarks.md
        import cProfile

        with cProfile.Profile() as prof:
            result = asyncio.run(drain_bench(config, events, scan_rate, timeout))
        prof.dump_stats(profile_to)
    else:
        result = asyncio.run(drain_bench(config, events, scan_rate, timeout))
    print(orjson.dumps(result).decode(), flush=True)
