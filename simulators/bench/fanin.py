"""``guanjia bench fanin``: many nodes into one hub, and the sync lag from an event's
creation to the hub and back.

Light mode (the default) simulates each node in memory on the real sync protocol
(fleet.py), so the cores go to the hub; ``--full-nodes`` runs real edge stores and sync
agents (``python -m edge bench-fleet``). Beside the figures the bench measures where the
CPU went: the hub and its workers, the broker, the hub's PostgreSQL backends, the fleets,
and the rest of this shared machine.
"""

from __future__ import annotations

import os
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

import orjson
from rich.console import Console
from rich.table import Table

from simulators.bench.hub import (
    drop_schema,
    hub_command,
    new_database,
    stored,
    wait_hub,
    wait_partitions,
)
from simulators.broker import PrivateBroker
from simulators.net import free_port

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


def fleet_result(proc: subprocess.Popen[str], errors: Path, timeout: float) -> dict[str, Any]:
    """A fleet's one JSON line; a fleet that ends without it is an error that says how it
    ended and what it wrote on stderr (S32: one ``--hubs 2`` run died with the bench's
    IndexError on the empty output, and the fleet's own error was lost)."""
    out = proc.communicate(timeout=timeout)[0].strip().splitlines()
    if proc.returncode != 0 or not out:
        tail = errors.read_text(errors="replace")[-3000:] if errors.exists() else ""
        raise RuntimeError(
            f"a fleet ended with exit code {proc.returncode} and"
            f" {'no result' if not out else 'a result'}; its stderr ends:\n{tail}"
        )
    result: dict[str, Any] = orjson.loads(out[-1])
    return result


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


def run(
    nodes: int,
    rate: float,
    duration: float,
    processes: int,
    database: str,
    pg_url: str,
    full_nodes: bool = False,
    status_interval: float = 10.0,
    kill_hub_at: float | None = None,
    hubs: int = 1,
) -> dict[str, float]:
    """Many nodes into one hub. Light mode (the default) simulates each node in memory on
    the real sync protocol (simulators/bench/fleet.py), so the cores go to the hub; ``full_nodes``
    runs real edge stores and sync agents (``python -m edge bench-fleet``).

    ``kill_hub_at``: that many seconds after the fleets start, the hub is killed (SIGKILL,
    mid-group) and started again on the same database: every node sees the hub's last
    will, keeps writing, and says hello when it is back. Every event must still be stored
    exactly once; the lag then includes the outage (of the first hub only, with ``hubs``).

    ``hubs``: that many hub processes on the one database and broker, as on that many
    machines (docs/deploy/hub.md): each its own MQTT client id and port, all in one ``$share``
    group, so each event batch goes to one of them. The second and later start once the
    first has migrated the new database."""
    console = Console()
    mode = "full edge nodes" if full_nodes else "light nodes"
    share = [nodes // processes + (1 if i < nodes % processes else 0) for i in range(processes)]
    with tempfile.TemporaryDirectory(prefix="guanjia-fanin-") as tmp:
        work = Path(tmp)
        broker = PrivateBroker(work / "broker", extra_config="max_connections -1").start()
        url, schema = new_database(database, work, pg_url)
        app_name = f"guanjia-fanin-{uuid.uuid4().hex[:8]}"
        hub_url = f"{url}&application_name={app_name}" if schema else url
        port = free_port()

        ports = [port, *(free_port() for _ in range(hubs - 1))]
        env = dict(os.environ)
        if hubs > 1:
            env["GUANJIA_INGEST_SHARE_GROUP"] = "guanjia-hub"

        def start_hub(i: int = 0) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                hub_command(ports[i], hub_url, broker.port),
                stdout=subprocess.DEVNULL,
                stderr=open(work / "cloud.log", "ab"),  # the child holds it; ours goes with GC
                env=env | {"GUANJIA_MQTT_CLIENT_ID": f"guanjia-fanin-hub{i}"},
            )

        cloud = start_hub()
        others: list[subprocess.Popen[bytes]] = []
        hub_down_s = 0.0
        try:
            wait_hub(port)
            others = [start_hub(i) for i in range(1, hubs)]
            for i in range(1, hubs):
                wait_hub(ports[i])
            # The event partitions shared out before the nodes come (docs/sync.md,
            # "Partitions"): a hand-over under load is correct but not what is measured.
            wait_partitions(ports)
            assert broker.proc is not None
            meter = _CpuMeter(
                {
                    "hub": cloud.pid,
                    **{f"hub{i + 1}": p.pid for i, p in enumerate(others, 1)},
                    "broker": broker.proc.pid,
                },
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
                    subprocess.Popen(
                        [sys.executable, *cmd],
                        stdout=subprocess.PIPE,
                        # Kept, so a fleet that dies says why (see fleet_result).
                        stderr=open(work / f"fleet{i}.err", "w"),  # noqa: SIM115 - the child holds it
                        text=True,
                    )
                )
            if kill_hub_at is not None:
                time.sleep(kill_hub_at)
                cloud.kill()
                cloud.wait(10)
                down = time.monotonic()
                cloud = start_hub()
                meter.pids["hub"] = cloud.pid  # the killed hub counts up to its last sample
                wait_hub(port)
                hub_down_s = time.monotonic() - down
            outs = [
                fleet_result(f, work / f"fleet{i}.err", duration + 600)
                for i, f in enumerate(fleets)
            ]
            children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = meter.stop()
            lags, held = stored(url)
        finally:
            for hub in (cloud, *others):
                hub.terminate()
            for hub in (cloud, *others):
                hub.wait(10)
            broker.stop()
            if schema:
                drop_schema(pg_url, schema)
    lags.sort()
    events = sum(o["events"] for o in outs)
    # A full node's store writes one node.started before its scans, as a light node does.
    written = sum(o.get("written_total", o["events"] + o["nodes"]) for o in outs)

    def pick(q: float) -> float:
        return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")

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
        "hubs": float(hubs),
        "cpu_hub_s": sum(v for k, v in cpu.items() if k.startswith("hub")),
        # Each hub's share when there are several: hub1 is the first ("hub" in the meter).
        **{
            f"cpu_{'hub1' if k == 'hub' else k}_s": v
            for k, v in cpu.items()
            if k.startswith("hub") and hubs > 1
        },
        # Issue 20: the hubs' CPU per event they stored (hellos' and statuses' work
        # included), against 75 µs.
        "hub_cpu_us_per_event": 1e6
        * sum(v for k, v in cpu.items() if k.startswith("hub"))
        / max(1.0, held.get("stored_total", written)),
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
        # Events per message: one at a time when the hub keeps up, more when nodes wait on a
        # tail batch in flight (docs/sync.md, "Upstream"); the hub's CPU per event follows.
        result["events_per_batch"] = written / max(1.0, sum(o.get("batches", 0.0) for o in outs))
        result["fleet_cpu_us_per_event"] = sum(
            o["cpu_us_per_event"] * o["events"] for o in outs
        ) / max(1.0, events)
    table = Table(
        title=f"fan-in ({mode}): {nodes} nodes × {rate:g} events/s for {duration:g} s into {hubs} hub(s) "
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
        "hub_cpu_us_per_event ≤ 75 (issue 20); "
        "every event stored once (stored == events, stored_total == "
        "stored_distinct == written_total, nodes_with_gaps == 0, left_unacked == 0). CPU over the "
        "fleet's life (connect, write, drain); cpu_others_s is the rest of this shared machine."
    )
    return result
