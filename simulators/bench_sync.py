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

import httpx
import orjson
import paho.mqtt.client as mqtt
from rich.console import Console
from rich.table import Table

from protocol import codec, topics
from protocol.messages import ScanPayload, ScanRecorded
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

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-sub-{uuid.uuid4().hex[:6]}")
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-pub-{uuid.uuid4().hex[:6]}")
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


def _database(kind: str, workdir: Path, pg_url: str) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'cloud.db'}", None
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


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
    url, schema = _database(kind, workdir, pg_url)
    port = free_port()
    cloud = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloud",
            "serve",
            "--port",
            str(port),
            "--database-url",
            url,
            "--mqtt-port",
            str(broker.port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "cloud.log", "wb"),  # noqa: SIM115 - closed with the process
        env={**os.environ, "GUANJIA_MQTT_CLIENT_ID": f"cloud-{kind}"},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                    .json()
                    .get("mqtt")
                    == "connected"
                ):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        cfg = workdir / "edge.toml"
        cfg.write_text(
            f'[node]\nid = "{NODE}-{kind}"\ndata_dir = "edge-data"\n[mqtt]\nport = {broker.port}\n'
            f"[scanner]\nport = {free_port()}\n"
            f"[sync]\nbatch_events = {per_batch}\nwindow = 8\nretry_interval_s = 10.0\n",
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
            _drop_schema(pg_url, schema)


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


def _lags_ms(url: str) -> list[float]:
    """Per event: the cloud's apply time minus the event's creation (its HLC wall part)."""
    if url.startswith("sqlite"):
        import sqlite3
        from datetime import datetime

        with sqlite3.connect(url.removeprefix("sqlite:///")) as c:
            rows = c.execute(
                "SELECT received_at, hlc FROM event WHERE type = 'scan.recorded'"
            ).fetchall()
        return [datetime.fromisoformat(r).timestamp() * 1000 - (h >> 16) for r, h in rows]
    import psycopg

    base, _, opts = url.partition("?options=-csearch_path%3D")
    with psycopg.connect(base.replace("+psycopg", "")) as c:
        c.execute(f'SET search_path TO "{opts}"')
        rows = c.execute(
            "SELECT received_at, hlc FROM event WHERE type = 'scan.recorded'"
        ).fetchall()
    return [r.timestamp() * 1000 - (h >> 16) for r, h in rows]


def run_fanin(
    nodes: int, rate: float, duration: float, processes: int, database: str, pg_url: str
) -> dict[str, float]:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="guanjia-fanin-") as tmp:
        work = Path(tmp)
        broker = PrivateBroker(work / "broker", extra_config="max_connections -1").start()
        url, schema = _database(database, work, pg_url)
        port = free_port()
        cloud = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloud",
                "serve",
                "--port",
                str(port),
                "--database-url",
                url,
                "--mqtt-port",
                str(broker.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "cloud.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                        .json()
                        .get("mqtt")
                        == "connected"
                    ):
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            share = [
                nodes // processes + (1 if i < nodes % processes else 0) for i in range(processes)
            ]
            fleets = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "edge",
                        "bench-fleet",
                        "--prefix",
                        f"f{i}",
                        "--nodes",
                        str(n),
                        "--rate",
                        str(rate),
                        "--duration",
                        str(duration),
                        "--mqtt-port",
                        str(broker.port),
                        "--data-dir",
                        str(work / f"fleet{i}"),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i, n in enumerate(share)
            ]
            outs = [
                orjson.loads(f.communicate(timeout=duration + 600)[0].strip().splitlines()[-1])
                for f in fleets
            ]
            lags = sorted(_lags_ms(url))
        finally:
            cloud.terminate()
            cloud.wait(10)
            broker.stop()
            if schema:
                _drop_schema(pg_url, schema)
    events = sum(o["events"] for o in outs)
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")  # noqa: E731
    result = {
        "nodes": float(nodes),
        "events": events,
        "events_per_s": events / duration,
        "stored": float(len(lags)),
        "lag_p50_ms": pick(0.5),
        "lag_p99_ms": pick(0.99),
        "lag_max_ms": lags[-1] if lags else float("nan"),
        "left_unacked": sum(o["left_unacked"] for o in outs),
    }
    table = Table(
        title=f"fan-in: {nodes} nodes × {rate:g} events/s for {duration:g} s into one hub ({database}, {os.cpu_count()} cores)"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(k, f"{v:,.1f}")
    console.print(table)
    console.print(
        "target: lag p99 ≤ 2,000 ms; every event stored once (stored == events, left_unacked == 0)"
    )
    return result
