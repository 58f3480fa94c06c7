"""``guanjia bench sync``: one node's backlog through Mosquitto into the cloud database.

Every part runs as in production, each in its own process: a private
Mosquitto, the cloud hub (``python -m cloud serve``) on SQLite or PostgreSQL,
and a node (``python -m edge bench-node``) that queues N events offline, then
drains them while a scanner keeps scanning. Beside our figure the bench
measures the limit in the same run on the same broker: raw paho publishing the
same batch payloads at QoS 1 to a raw paho subscriber (no database, no acks of
ours), and unbatched (one event per message).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from protocol import codec, topics
from protocol.messages import ScanPayload, ScanRecorded
from simulators.bench.hub import drop_schema, hub_command, new_database, wait_hub
from simulators.broker import PrivateBroker
from simulators.net import free_port

NODE = "bench-1"


def _payloads(n: int, per_batch: int) -> list[bytes]:
    events = [
        codec.encode_event(
            ScanRecorded(
                node=NODE,
                epoch=1,
                seq=i + 1,
                id=uuid.UUID(int=i + 1),
                hlc=(1_790_000_000_000 << 16) + i,
                payload=ScanPayload(station="pack-1", barcode=f"69{i:011d}", verdict="unknown"),
            )
        )
        for i in range(n)
    ]
    return [codec.encode_batch(NODE, events[i : i + per_batch]) for i in range(0, n, per_batch)]


def raw_paho(port: int, payloads: list[bytes], timeout: float = 120) -> float:
    """Seconds for raw paho to move these messages publisher -> broker -> subscriber at QoS 1."""
    topic = topics.topic(NODE, topics.Channel.EVENTS)
    got = 0
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal got
        got += 1
        if got == len(payloads):
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-sub-{uuid.uuid4().hex[:6]}")
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-pub-{uuid.uuid4().hex[:6]}")
    pub.max_inflight_messages_set(64)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.3)
    t = time.perf_counter()
    for p in payloads:
        pub.publish(topic, p, qos=1)
    done.wait(timeout)
    took = time.perf_counter() - t
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return took


def ours(
    kind: str,
    broker: PrivateBroker,
    workdir: Path,
    events: int,
    per_batch: int,
    scan_rate: float,
    pg_url: str,
) -> dict[str, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    url, schema = new_database(kind, workdir, pg_url)
    port = free_port()
    cloud = subprocess.Popen(
        hub_command(port, url, broker.port),
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "cloud.log", "wb"),  # noqa: SIM115 - closed with the process
        env={**os.environ, "GUANJIA_MQTT_CLIENT_ID": f"cloud-{kind}"},
    )
    try:
        wait_hub(port)
        cfg = workdir / "edge.toml"
        cfg.write_text(
            f'[node]\nid = "{NODE}-{kind}"\ndata_dir = "edge-data"\n[mqtt]\nport = {broker.port}\n'
            f"[scanner]\nport = {free_port()}\n"
            f"[sync]\nbatch_events = {per_batch}\nretry_interval_s = 10.0\n",
            encoding="utf-8",
        )
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge",
                "bench-node",
                "--config",
                str(cfg),
                "--events",
                str(events),
                "--scan-rate",
                str(scan_rate),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if out.returncode != 0:
            raise RuntimeError(f"edge bench-node failed: {out.stderr[-2000:]}")
        return dict(orjson.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        cloud.terminate()
        cloud.wait(10)
        if schema:
            drop_schema(pg_url, schema)


def run(
    events: int, per_batch: int, scan_rate: float, databases: list[str], pg_url: str
) -> dict[str, dict[str, float]]:
    console = Console()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="guanjia-bench-") as tmp:
        work = Path(tmp)
        broker = PrivateBroker(work / "broker").start()
        try:
            payloads = _payloads(events, per_batch)
            raw_s = raw_paho(broker.port, payloads)
            unbatched_n = min(events, 20_000)
            raw_single_s = raw_paho(broker.port, _payloads(unbatched_n, 1))
            results["raw"] = {
                "batched_events_per_s": events / raw_s,
                "unbatched_msgs_per_s": unbatched_n / raw_single_s,
            }
            for kind in databases:
                results[kind] = ours(
                    kind, broker, work / kind, events, per_batch, scan_rate, pg_url
                )
        finally:
            broker.stop()
    limit = results["raw"]["batched_events_per_s"]
    table = Table(
        title=f"sync: {events:,} events queued offline, batches of {per_batch}, {scan_rate:g} scans/s during the drain "
        f"({platform.machine()}, {os.cpu_count()} cores, {broker.kind})"
    )
    for col in (
        "path",
        "events/s",
        "× of raw",
        "drain s",
        "scan p50 ms",
        "scan p99 ms",
        "edge RSS MB",
    ):
        table.add_column(col, justify="right" if col != "path" else "left")
    table.add_row("raw paho, batched (limit)", f"{limit:,.0f}", "1.00", "", "", "", "")
    table.add_row(
        "raw paho, one event per message",
        f"{results['raw']['unbatched_msgs_per_s']:,.0f}",
        "",
        "",
        "",
        "",
        "",
    )
    for kind in databases:
        r = results[kind]
        table.add_row(
            f"Guanjia node -> Mosquitto -> cloud ({kind})",
            f"{r['events_per_s']:,.0f}",
            f"{r['events_per_s'] / limit:.2f}",
            f"{r['drain_s']:.1f}",
            f"{r['scan_p50_ms']:.1f}",
            f"{r['scan_p99_ms']:.1f}",
            f"{r['rss_mb']:.0f} (peak {r['peak_rss_mb']:.0f})",
        )
    console.print(table)
    console.print(
        "targets: ≥ 20,000 events/s; 864,000-event backlog drained ≤ 60 s with scan p99 ≤ 50 ms; edge RSS ≤ 120 MB"
    )
    return results
