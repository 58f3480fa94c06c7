"""The node side of ``guanjia bench fanin``: many simulated nodes in one process.

Each simulated node is a real node minus its devices: its own SQLite store
(WAL, synchronous=FULL), its own sync agent and MQTT connection, writing scan
events at a steady rate. Prints one JSON object when all are drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from pathlib import Path

import orjson

from edge.config import MqttSection, SyncSection
from edge.store.store import Store
from edge.sync import SyncAgent
from protocol.messages import ScanPayload


async def _writer(
    store: Store, agent: SyncAgent, rate: float, until: float, rng: random.Random
) -> int:
    await asyncio.sleep(rng.uniform(0, 1 / rate))  # nodes do not scan in lockstep
    n = 0
    while time.monotonic() < until:
        store.record_scan(ScanPayload(station="pack-1", barcode=f"69{n:011d}", verdict="unknown"))
        agent.kick()
        n += 1
        await asyncio.sleep(1 / rate)
    return n


async def fleet(
    prefix: str, nodes: int, rate: float, duration: float, mqtt_port: int, data_dir: Path
) -> dict[str, float]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, nodes * 6 + 256)), hard))
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(prefix)
    stores, agents, runs = [], [], []
    for i in range(nodes):
        # Hundreds of simulated nodes share this machine's one disk: per-write fsyncs would
        # measure the disk, not the hub (a real node has its own; the station bench keeps FULL).
        store = Store(data_dir / f"{prefix}-{i:04d}.db", f"{prefix}-{i:04d}", synchronous="NORMAL")
        store.start_epoch("bench", "demo")
        agent = SyncAgent(
            store,
            MqttSection(port=mqtt_port, keepalive_s=60),
            SyncSection(retry_interval_s=10.0, status_interval_s=60.0),
            software="bench",
        )
        stores.append(store)
        agents.append(agent)
        runs.append(asyncio.create_task(agent.run()))
    t_connect = time.monotonic()
    while not all(a.status.connected for a in agents) and time.monotonic() - t_connect < 60:
        await asyncio.sleep(0.1)
    until = time.monotonic() + duration
    written = await asyncio.gather(
        *(_writer(s, a, rate, until, rng) for s, a in zip(stores, agents, strict=True))
    )
    t_stop = time.monotonic()
    while any(s.acked_through < s.last_seq for s in stores) and time.monotonic() - t_stop < 120:
        await asyncio.sleep(0.1)
    drained_after = time.monotonic() - t_stop
    backlog = sum(s.last_seq - s.acked_through for s in stores)
    for t in runs:
        t.cancel()
    for t in runs:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    return {
        "nodes": float(nodes),
        "events": float(sum(written)),
        "connected_s": t_stop - duration - t_connect,
        "drained_after_stop_s": drained_after,
        "left_unacked": float(backlog),
    }


def run(
    prefix: str, nodes: int, rate: float, duration: float, mqtt_port: int, data_dir: Path
) -> None:
    result = asyncio.run(fleet(prefix, nodes, rate, duration, mqtt_port, data_dir))
    print(orjson.dumps(result).decode(), flush=True)
