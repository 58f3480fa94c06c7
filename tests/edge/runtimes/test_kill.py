"""kill -9 of the pack daemon between scan and light: nothing lost, nothing doubled.

The daemon runs as ``python -m edge run`` against the scale pty and the printer
simulator (both in this process, on a background loop). It is killed at random
moments while an operator scans, and restarted; the operator carries on (and
rescans the order that was open). Afterwards:

* every light that reached the daemon's log names journal rows that are committed
  and say the same thing;
* no waybill was printed twice, and every printed label has its intent committed;
* no fact is in the outbox twice, the outbox sequence has no gap, the database is intact.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from edge.store.store import Store
from simulators.devices.printer import LabelPrinterSimulator
from simulators.devices.scale import ScaleSimulator
from tests.support import free_port

from .harness import BOOK, NODE, ORDER_WEIGHT, RED, release, seed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


class Devices:
    """The scale and printer simulators on a loop of their own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.scale = ScaleSimulator("mt-sics", weight=ORDER_WEIGHT, settle_time=0.01)
        self.printer = LabelPrinterSimulator()
        self.call(self.scale.start())
        self.call(self.printer.start())

    def call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def close(self) -> None:
        self.call(self.printer.stop())
        self.call(self.scale.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def devices() -> Iterator[Devices]:
    d = Devices()
    yield d
    d.close()


def write_config(tmp_path: Path, devices: Devices, scanner_port: int) -> Path:
    cfg = tmp_path / "pack.toml"
    cfg.write_text(
        f"""
[node]
id = "{NODE}"
data_dir = "data"

[mqtt]
port = {free_port()}

[station]
kind = "pack"
name = "pack-1"

[scanner]
port = {scanner_port}

[scale]
port = "{devices.scale.port}"

[[printers]]
name = "sf-1"
courier = "SF"
host = "127.0.0.1"
port = {devices.printer.port}

[pack]
packaging_g = {{ S = 100 }}
""",
        encoding="utf-8",
    )
    return cfg


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "daemon exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("daemon scanner port never opened")


def operator(port: int, lines: list[str], stop: threading.Event) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            for line in lines:
                if stop.is_set():
                    return
                conn.sendall(line.encode() + b"\r\n")
                time.sleep(0.05)
    except OSError:
        pass  # the daemon died under us: that is the point


def test_kill_9_between_scan_and_light_loses_and_doubles_nothing(
    tmp_path: Path, devices: Devices
) -> None:
    orders = [release(f"O-{i}", f"SF2{i:03d}") for i in range(1, 11)]
    store = Store(tmp_path / "data" / "edge.db", NODE)
    seed(store, orders)
    store.close()
    scanner_port = free_port()
    cfg = write_config(tmp_path, devices, scanner_port)
    log_path = tmp_path / "daemon.log"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    with log_path.open("ab") as log_file:
        for cycle in range(1, 9):
            proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--config", str(cfg), "--log-format", "json"],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(scanner_port, proc)
                previous = orders[cycle - 2].waybill if cycle > 1 else None
                current = orders[cycle - 1].waybill
                assert current is not None
                lines = ([previous, RED, BOOK, RED] if previous else []) + [current, RED, BOOK, RED]
                stop = threading.Event()
                scans = threading.Thread(target=operator, args=(scanner_port, lines, stop))
                scans.start()
                time.sleep(rng.uniform(0.05, 0.9))
                proc.send_signal(signal.SIGKILL)
                kills += 1
                proc.wait(10)
                stop.set()
                scans.join(5)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    assert kills == 8

    conn = sqlite3.connect(tmp_path / "data" / "edge.db")
    journal = {row[0]: row[1] for row in conn.execute("SELECT id, text FROM journal")}
    lights = 0
    for raw in log_path.read_bytes().splitlines():
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a line cut by the kill
        if "journal" not in rec:
            continue
        lights += 1
        ids = rec["journal"]
        assert ids, f"a light without a committed verdict: {rec['msg']}"
        assert rec["msg"].split(": ", 1)[1] in {journal.get(i) for i in ids}, rec
    assert lights > 8  # the scans did reach the daemon between kills

    printed = Counter(
        w
        for label in devices.printer.printed
        for w in (o.waybill for o in orders)
        if w and w.encode() in label.raw
    )
    assert printed and max(printed.values()) == 1, printed
    intents = {r[0] for r in conn.execute("SELECT tracking_number FROM pack_label")}
    assert set(printed) <= intents  # every label that came out was committed as sent first

    rows = conn.execute("SELECT seq, type, body FROM outbox ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    facts = Counter(
        (
            r[1],
            orjson.loads(r[2])["payload"].get("order_id"),
            orjson.loads(r[2])["payload"].get("grams"),
        )
        for r in rows
        if r[1] != "node.started"
    )
    assert facts and max(facts.values()) == 1, facts
    labelled = Counter(
        orjson.loads(r[2])["payload"]["order_id"] for r in rows if r[1] == "order.labelled"
    )
    assert max(labelled.values(), default=1) == 1
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
