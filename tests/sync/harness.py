"""Real processes for fault tests: an edge daemon, a cloud hub, a scan feeder.

Everything here talks over real sockets to a real Mosquitto; faults are real
signals (SIGKILL), not mocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory
from cloud.db.models import Event, Node
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from simulators.net import free_port
from tests.support import wait

NODE = "wh1-pack-1"


class EdgeDaemon:
    """``python -m edge run`` as a child process, with its JSON log in a file."""

    def __init__(self, workdir: Path, mqtt_port: int, retry_s: float = 0.5) -> None:
        self.dir = workdir
        self.scanner_port = free_port()
        self.config = workdir / "edge.toml"
        self.log = workdir / "edge.jsonl"
        self.db = workdir / "edge-data" / "edge.db"
        self.set_broker(mqtt_port, retry_s)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def set_broker(self, mqtt_port: int, retry_s: float = 0.5) -> None:
        self.config.write_text(
            f'[node]\nid = "{NODE}"\ndata_dir = "edge-data"\n'
            f"[mqtt]\nport = {mqtt_port}\n"
            f"[scanner]\nport = {self.scanner_port}\n"
            f"[sync]\nretry_interval_s = {retry_s}\nbatch_events = 200\nstatus_interval_s = 1.0\n",
            encoding="utf-8",
        )

    def start(self, wait_ready: bool = True) -> None:
        self.starts += 1
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edge",
                    "run",
                    "--config",
                    str(self.config),
                    "--log-format",
                    "json",
                ],
                stdout=logf,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        if wait_ready:
            wait(self.accepting, 30, "the edge daemon's scanner port")

    def accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.scanner_port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def records(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):  # a line cut by SIGKILL
                out.append(orjson.loads(line))
        return out

    def last_seq(self) -> int:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
            return int(c.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0])

    def scans(self) -> dict[int, str]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
            return {int(s): str(b) for s, b in c.execute("SELECT seq, barcode FROM scan")}

    def integrity(self) -> str:
        with contextlib.closing(sqlite3.connect(self.db)) as c:
            return str(c.execute("PRAGMA integrity_check").fetchone()[0])


class Feeder:
    """A scanner that keeps scanning unique barcodes, reconnecting while the node is down."""

    def __init__(self, port: int, interval: float = 0.002) -> None:
        self.port = port
        self.interval = interval
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    while not self._stop.is_set():
                        code = f"B{n:07d}"
                        conn.sendall(code.encode() + b"\r\n")
                        self.sent.append(code)
                        n += 1
                        time.sleep(self.interval)
            except OSError:
                time.sleep(0.01)


@contextlib.contextmanager
def ingest_in_thread(
    engine: Engine, mqtt_port: int, share_group: str | None = None, client_id: str = "cloud"
) -> Iterator[IngestWorker]:
    """The cloud's ingest worker on its own event loop in a thread."""
    settings = Settings(
        mqtt_port=mqtt_port, mqtt_client_id=client_id, ingest_share_group=share_group
    )
    worker = IngestWorker(settings, session_factory(engine))
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] | None = None

    def run() -> None:
        nonlocal task
        asyncio.set_event_loop(loop)
        task = loop.create_task(worker.run())
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait(lambda: worker.stats.connected, 10, "ingest connected")
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(lambda: task.cancel() if task else None)
        t.join(10)
        loop.close()


def cloud_acked(engine: Engine) -> int:
    with session_factory(engine)() as s:
        node = s.get(Node, NODE)
        return 0 if node is None else node.acked_through


def cloud_events(engine: Engine) -> tuple[int, int, dict[int, str]]:
    """(count, max seq, seq -> barcode of scans) as the cloud stored them."""
    with session_factory(engine)() as s:
        count, top = s.execute(
            select(func.count(), func.max(Event.seq)).where(Event.node_id == NODE)
        ).one()
        scans = {
            seq: payload["barcode"]
            for seq, payload in s.execute(
                select(Event.seq, Event.payload).where(
                    Event.node_id == NODE, Event.type == "scan.recorded"
                )
            )
        }
    return int(count), int(top or 0), scans
