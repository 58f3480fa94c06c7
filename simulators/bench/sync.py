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

import contextlib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

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
        _hub_command(port, url, broker.port),
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


# --- fan-in: many nodes into one hub ----------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (all its threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _tree(pid: int) -> list[int]:
    """A process and its descendants (a hub may fork workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _machine_busy_s() -> float:
    """CPU seconds every core of this machine spent busy since boot (steal not counted)."""
    with open("/proc/stat", "rb") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / _TICK


class _CpuMeter:
    """CPU seconds per part (the hub and its children, the broker, the hub's PostgreSQL
    backends) over a window.

    Sampled twice a second from /proc, because PostgreSQL backends come and go with the hub's
    connection pool: one born inside the window counts from zero, one that ends counts up to
    its last sample.
    """

    def __init__(self, pids: dict[str, int], pg: tuple[str, str] | None) -> None:
        self.pids = pids
        self.pg = pg  # (server URL, the hub's application_name)
        self._seen: dict[tuple[str, int], tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = self._busy0 = 0.0
        self.wall_s = self.machine_s = 0.0

    def _pg_backends(self, conn: Any) -> list[int]:
        assert self.pg is not None
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.pg[1],)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _sample(self, conn: Any, first: bool) -> None:
        pids = [(part, p) for part, pid in self.pids.items() for p in _tree(pid)]
        if conn is not None:
            pids += [("postgres", pid) for pid in self._pg_backends(conn)]
        for key in pids:
            cpu = _proc_cpu_s(key[1])
            if cpu is None:
                continue
            start = self._seen[key][0] if key in self._seen else (cpu if first else 0.0)
            self._seen[key] = (start, cpu)

    def _run(self) -> None:
        conn = None
        if self.pg is not None:
            import psycopg

            conn = psycopg.connect(self.pg[0].replace("+psycopg", ""), autocommit=True)
        try:
            self._sample(conn, first=True)
            self._t0, self._busy0 = time.monotonic(), _machine_busy_s()
            while not self._stop.wait(0.5):
                self._sample(conn, first=False)
            self._sample(conn, first=False)
            self.wall_s = time.monotonic() - self._t0
            self.machine_s = _machine_busy_s() - self._busy0
        finally:
            if conn is not None:
                conn.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(10)
        parts = {part: 0.0 for part in self.pids}
        if self.pg is not None:
            parts["postgres"] = 0.0
        for (part, _), (start, last) in self._seen.items():
            parts[part] += last - start
        return parts


def _stored(url: str, pg_url: str, schema: str | None) -> tuple[list[float], dict[str, float]]:
    """Per scan: its ``received_at`` (when the hub took up its group; the commit follows
    within the group's apply) minus the event's creation (its HLC wall part); and
    what the hub holds: every event, distinct (node, seq), nodes whose seqs are not 1..n."""
    counts = (
        "SELECT count(*), count(DISTINCT {pair}), "
        "(SELECT count(*) FROM (SELECT node_id FROM event GROUP BY node_id "
        "HAVING count(*) <> max(seq)) AS g) FROM event"
    )
    lags = "SELECT received_at, hlc FROM event WHERE type = 'scan.recorded'"
    if schema is None:
        import sqlite3
        from datetime import datetime

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as c:
            total, distinct, gaps = c.execute(
                counts.format(pair="node_id || '/' || seq")
            ).fetchone()
            rows = c.execute(lags).fetchall()
        lag = [datetime.fromisoformat(r).timestamp() * 1000 - (h >> 16) for r, h in rows]
    else:
        import psycopg

        with psycopg.connect(pg_url.replace("+psycopg", "")) as c:
            c.execute(f'SET search_path TO "{schema}"')
            row = c.execute(counts.format(pair="(node_id, seq)")).fetchone()
            assert row is not None  # an aggregate always answers one row
            total, distinct, gaps = row
            lag = [r.timestamp() * 1000 - (h >> 16) for r, h in c.execute(lags).fetchall()]
    return lag, {
        "stored_total": float(total),
        "stored_distinct": float(distinct),
        "nodes_with_gaps": float(gaps),
    }


def _hub_command(port: int, database_url: str, mqtt_port: int) -> list[str]:
    """The hub as it runs in production: its own process (``python -m cloud serve``)."""
    return [
        sys.executable,
        "-m",
        "cloud",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--mqtt-port",
        str(mqtt_port),
    ]


def _wait_hub(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).json()
            if health.get("mqtt") == "connected":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def _quantile(histogram: Counter[int], q: float) -> float:
    """The ``q`` quantile of values counted in ``histogram`` (value -> how many)."""
    total = sum(histogram.values())
    if not total:
        return float("nan")
    rank, seen = q * (total - 1), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > rank:
            return float(value)
    return float(max(histogram))


def run_fanin(
    nodes: int,
    rate: float,
    duration: float,
    processes: int,
    database: str,
    pg_url: str,
    full_nodes: bool = False,
    status_interval: float = 10.0,
    kill_hub_at: float | None = None,
) -> dict[str, float]:
    """Many nodes into one hub. Light mode (the default) simulates each node in memory on
    the real sync protocol (simulators/bench/fleet.py), so the cores go to the hub; ``full_nodes``
    runs real edge stores and sync agents (``python -m edge bench-fleet``).

    ``kill_hub_at``: that many seconds after the fleets start, the hub is killed (SIGKILL,
    mid-group) and started again on the same database: every node sees the hub's last
    will, keeps writing, and says hello when it is back. Every event must still be stored
    exactly once; the lag then includes the outage."""
    console = Console()
    mode = "full edge nodes" if full_nodes else "light nodes"
    share = [nodes // processes + (1 if i < nodes % processes else 0) for i in range(processes)]
    with tempfile.TemporaryDirectory(prefix="guanjia-fanin-") as tmp:
        work = Path(tmp)
        broker = PrivateBroker(work / "broker", extra_config="max_connections -1").start()
        url, schema = _database(database, work, pg_url)
        app_name = f"guanjia-fanin-{uuid.uuid4().hex[:8]}"
        hub_url = f"{url}&application_name={app_name}" if schema else url
        port = free_port()

        def start_hub() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                _hub_command(port, hub_url, broker.port),
                stdout=subprocess.DEVNULL,
                stderr=open(work / "cloud.log", "ab"),  # the child holds it; ours goes with GC
            )

        cloud = start_hub()
        hub_down_s = 0.0
        try:
            _wait_hub(port)
            assert broker.proc is not None
            meter = _CpuMeter(
                {"hub": cloud.pid, "broker": broker.proc.pid},
                (pg_url, app_name) if schema else None,
            )
            meter.start()
            children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            fleets = []
            for i, n in enumerate(share):
                if full_nodes:
                    cmd = ["-m", "edge", "bench-fleet", "--data-dir", str(work / f"fleet{i}")]
                else:
                    cmd = [
                        "-m",
                        "simulators.bench.fleet",
                        "--status-interval",
                        str(status_interval),
                    ]
                cmd += ["--prefix", f"f{i}", "--nodes", str(n), "--rate", str(rate)]
                cmd += ["--duration", str(duration), "--mqtt-port", str(broker.port)]
                fleets.append(
                    subprocess.Popen([sys.executable, *cmd], stdout=subprocess.PIPE, text=True)
                )
            if kill_hub_at is not None:
                time.sleep(kill_hub_at)
                cloud.kill()
                cloud.wait(10)
                down = time.monotonic()
                cloud = start_hub()
                meter.pids["hub"] = cloud.pid  # the killed hub counts up to its last sample
                _wait_hub(port)
                hub_down_s = time.monotonic() - down
            outs = [
                orjson.loads(f.communicate(timeout=duration + 600)[0].strip().splitlines()[-1])
                for f in fleets
            ]
            children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = meter.stop()
            lags, held = _stored(url, pg_url, schema)
        finally:
            cloud.terminate()
            cloud.wait(10)
            broker.stop()
            if schema:
                _drop_schema(pg_url, schema)
    lags.sort()
    events = sum(o["events"] for o in outs)
    # A full node's store writes one node.started before its scans, as a light node does.
    written = sum(o.get("written_total", o["events"] + o["nodes"]) for o in outs)
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")  # noqa: E731
    fleet_cpu = children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime
    ours = fleet_cpu + sum(cpu.values())
    result: dict[str, float] = {
        "nodes": float(nodes),
        "events": events,
        "events_per_s": events / duration,
        "stored": float(len(lags)),
        "lag_p50_ms": pick(0.5),
        "lag_p99_ms": pick(0.99),
        "lag_max_ms": lags[-1] if lags else float("nan"),
        "left_unacked": sum(o["left_unacked"] for o in outs),
        "written_total": written,
        **held,
        "resends": sum(o.get("resends", 0.0) for o in outs),
        **({"hub_killed_at_s": kill_hub_at, "hub_back_after_s": hub_down_s} if kill_hub_at else {}),
        "reconnects": sum(o.get("reconnects", 0.0) for o in outs),
        "connected_s": max(o["connected_s"] for o in outs),
        "drained_after_stop_s": max(o["drained_after_stop_s"] for o in outs),
        "window_s": meter.wall_s,
        "cpu_fleet_s": fleet_cpu,
        "cpu_hub_s": cpu["hub"],
        "cpu_broker_s": cpu["broker"],
        **({"cpu_postgres_s": cpu["postgres"]} if "postgres" in cpu else {}),
        "cpu_machine_busy_s": meter.machine_s,
        "cpu_others_s": max(0.0, meter.machine_s - ours),
    }
    if not full_nodes:
        acked: Counter[int] = Counter()
        for o in outs:
            acked.update({int(ms): n for ms, n in o["ack_lag_ms"].items()})
        result["ack_lag_p50_ms"] = _quantile(acked, 0.5)
        result["ack_lag_p99_ms"] = _quantile(acked, 0.99)
        result["ack_lag_max_ms"] = float(max(acked, default=0))
        result["nodes_ready"] = sum(o["ready"] for o in outs)  # the hub answered their hello
        result["fleet_write_late_p99_ms"] = max(o["write_late_p99_ms"] for o in outs)
        result["fleet_cpu_us_per_event"] = sum(
            o["cpu_us_per_event"] * o["events"] for o in outs
        ) / max(1.0, events)
    table = Table(
        title=f"fan-in ({mode}): {nodes} nodes × {rate:g} events/s for {duration:g} s into one hub "
        f"({database}, {processes} fleet processes, {os.cpu_count()} cores)"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    window = meter.wall_s or float("nan")
    for k, v in result.items():
        cores = f"  ({v / window:.2f} cores)" if k.startswith("cpu_") else ""
        table.add_row(k, f"{v:,.1f}{cores}")
    console.print(table)
    console.print(
        "target: lag p99 ≤ 2,000 ms (lag: creation → the hub taking up its group; ack_lag: "
        "creation → the hub's ack back at the node, read once per fleet tick of 20 ms); "
        "every event stored once (stored == events, stored_total == "
        "stored_distinct == written_total, nodes_with_gaps == 0, left_unacked == 0). CPU over the "
        "fleet's life (connect, write, drain); cpu_others_s is the rest of this shared machine."
    )
    return result
