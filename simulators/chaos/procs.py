"""The processes a chaos scenario drives: edge daemon, hub, scanner feeder, a cuttable relay.

Everything talks over real sockets to a real broker; faults are real signals (SIGKILL),
closed sockets, mounts and clocks, not mocks. The tests' fault harness
(tests/sync/harness.py) uses these classes too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from simulators.net import free_port, wait_for_port

NODE = "wh1-pack-1"


def wait(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class _ReadOnly(contextlib.AbstractContextManager["_ReadOnly"]):
    """The node's database opened read-only; on a read-only disk, as immutable (a WAL
    database cannot be opened read-only there without its -shm file; nothing writes it)."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            self.conn.execute("SELECT 1 FROM meta LIMIT 1")
        except sqlite3.OperationalError:
            self.conn.close()
            self.conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True, timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


class EdgeDaemon:
    """``python -m edge run`` as a child process, with its JSON log in a file.

    ``faults`` are environment variables for :mod:`simulators.chaos.launch` (a shifted wall
    clock, SQLite I/O errors); without them the daemon is started exactly as systemd does.
    """

    def __init__(
        self,
        workdir: Path,
        mqtt_port: int,
        retry_s: float = 0.5,
        *,
        node_id: str = NODE,
        data_dir: Path | None = None,
        link_alarm_s: float = 60.0,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir
        self.node_id = node_id
        self.scanner_port = free_port()
        self.config = workdir / "edge.toml"
        self.log = workdir / "edge.jsonl"
        self.data_dir = data_dir or workdir / "edge-data"
        self.db = self.data_dir / "edge.db"
        self.link_alarm_s = link_alarm_s
        self.set_broker(mqtt_port, retry_s)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_offset = 0  # where the running process's log begins

    def set_broker(self, mqtt_port: int, retry_s: float = 0.5) -> None:
        self.config.write_text(
            f'[node]\nid = "{self.node_id}"\ndata_dir = "{self.data_dir}"\n'
            f"[mqtt]\nport = {mqtt_port}\n"
            f"[scanner]\nport = {self.scanner_port}\n"
            f"[sync]\nretry_interval_s = {retry_s}\nbatch_events = 200\nstatus_interval_s = 1.0\n"
            f"link_alarm_s = {self.link_alarm_s}\n",
            encoding="utf-8",
        )

    def start(self, wait_ready: bool = True, faults: dict[str, str] | None = None) -> None:
        self.starts += 1
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        module = ["-m", "simulators.chaos.launch"] if faults else ["-m", "edge"]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    *module,
                    *("run", "--config", str(self.config), "--log-format", "json"),
                ],
                stdout=logf,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(faults or {})},
            )
        if wait_ready:
            wait(self.accepting, 180, "the edge daemon's scanner port")

    def accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.scanner_port), timeout=0.2):
                return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
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

    def records(self, since_start: bool = False) -> list[dict[str, object]]:
        out = []
        with open(self.log, "rb") as f:
            if since_start:
                f.seek(self.log_offset)
            data = f.read()
        for line in data.splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):  # a line cut by SIGKILL
                out.append(orjson.loads(line))
        return out

    def alarm(self) -> str | None:
        """The running daemon's watchdog alarm, as its log last said (None: none raised)."""
        state = None
        for r in self.records(since_start=True):
            if "alarm" in r:
                state = str(r["alarm"])
            elif "alarm cleared" in str(r.get("message", r.get("msg", ""))):
                state = None
        return state

    def last_seq(self) -> int:
        with _ReadOnly(self.db) as ro:
            row = ro.conn.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
            return 0 if row is None else int(row[0])

    def scans(self) -> dict[int, str]:
        with _ReadOnly(self.db) as ro:
            return {int(s): str(b) for s, b in ro.conn.execute("SELECT seq, barcode FROM scan")}

    def integrity(self) -> str:
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as c:
            return "; ".join(str(r[0]) for r in c.execute("PRAGMA integrity_check"))


class Feeder:
    """A scanner that keeps scanning unique barcodes, reconnecting while the node is down.

    ``limit``: stop after that many scans were sent (None: until the context ends).
    """

    def __init__(
        self,
        port: int,
        interval: float = 0.002,
        limit: int | None = None,
        prefix: str = "B",
        committed: Callable[[], int] | None = None,
        max_ahead: int = 300,
    ) -> None:
        self.port = port
        # A scanner waits for its light; a feeder that floods far ahead of the node's
        # commits only fills the socket buffer (thousands of scans, minutes of draining on
        # a loaded machine). With ``committed`` it stays at most ``max_ahead`` scans ahead.
        self.committed = committed
        self.max_ahead = max_ahead
        self._base = 0
        if committed is not None:
            with contextlib.suppress(sqlite3.Error):
                self._base = committed()
        self.interval = interval
        self.limit = limit
        self.prefix = prefix
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def done(self) -> bool:
        return self.limit is not None and len(self.sent) >= self.limit

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set() and not self.done():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    while not self._stop.is_set() and not self.done():
                        if self.committed is not None and n % 20 == 0:
                            self._hold(n)
                        code = f"{self.prefix}{n:07d}"
                        conn.sendall(code.encode() + b"\r\n")
                        self.sent.append(code)
                        n += 1
                        time.sleep(self.interval)
            except OSError:
                time.sleep(0.01)

    def _hold(self, n: int) -> None:
        assert self.committed is not None
        while not self._stop.is_set():
            try:
                if n - (self.committed() - self._base) < self.max_ahead:
                    return
            except sqlite3.Error:
                return  # the node's file is busy or not there yet: send on
            time.sleep(0.05)


class Hub:
    """``python -m cloud serve`` (API and MQTT ingest) as a child process; migrated first."""

    def __init__(self, workdir: Path, database_url: str, mqtt_port: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir
        self.url = database_url
        self.mqtt_port = mqtt_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._migrated = False

    def start(self) -> Hub:
        if not self._migrated:
            done = subprocess.run(
                [sys.executable, "-m", "cloud", "migrate", "--database-url", self.url],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                raise RuntimeError(f"migrating the hub's database failed: {done.stderr[-800:]}")
            self._migrated = True
        port = free_port()
        self.starts += 1
        with open(self.dir / "hub.log", "ab") as logf:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "cloud", "serve", "--port", str(port)),
                    *("--database-url", self.url, "--mqtt-port", str(self.mqtt_port)),
                ],
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
        wait_for_port("127.0.0.1", port, 300)  # minutes on a loaded machine
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Relay:
    """A TCP relay in front of the broker that the scenario cuts and heals: a partition.

    Cutting closes the listening socket and every relayed connection, so the node sees what
    a pulled cable or a dead uplink router gives it after TCP gives up: connection reset,
    then connection refused on every retry, while the broker and the hub stay up and keep
    their sessions. It runs unprivileged (no network namespaces or iptables needed).

    :meth:`silence` models the other death of a link: the connections relayed so far stay
    open and carry nothing more, either way (a black hole, a half-open TCP connection, a
    socket its event loop stopped watching), noticed only by the MQTT keep-alive or an
    unanswered publish; new connections are relayed as before — see docs/chaos.md.
    """

    def __init__(self, target: int, port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self._server: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._silenced: set[socket.socket] = set()
        self.cuts = 0

    @property
    def up(self) -> bool:
        return self._server is not None

    def heal(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def cut(self) -> None:
        self.cuts += 1
        srv, self._server = self._server, None
        if srv is not None:
            with contextlib.suppress(OSError):
                srv.shutdown(socket.SHUT_RDWR)
            srv.close()
        with self._lock:
            conns, self._conns = self._conns, set()
            self._silenced.clear()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def silence(self) -> None:
        """From now on the connections relayed so far carry nothing (bytes are read and
        dropped; no FIN, no RST); connections made afterwards are relayed."""
        with self._lock:
            self._silenced |= self._conns

    def close(self) -> None:
        self.cut()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                down, _ = srv.accept()
            except OSError:
                return  # cut
            try:
                up = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                down.close()
                continue
            with self._lock:
                if self._server is not srv:  # cut meanwhile
                    down.close()
                    up.close()
                    return
                self._conns |= {down, up}
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if src not in self._silenced:
                    dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
