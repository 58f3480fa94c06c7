"""What every leg of the demo shares: its working directory, the processes it spawned, the
steps it recorded, the hub's API address and token, and the nodes' JSON logs.

Nothing here knows the scenario; the legs (hub.py, scan_check.py, warehouse.py) do.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

from simulators.broker import PrivateBroker


class DemoFailed(Exception):
    pass


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class EdgeProcess:
    proc: subprocess.Popen[bytes]
    records: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    #: Where the node's JSON log lines are kept as well (the demo reads them from the pipe).
    tee: Path | None = None

    def start_reader(self) -> None:
        def pump() -> None:
            assert self.proc.stdout is not None
            out = open(self.tee, "ab") if self.tee is not None else None  # noqa: SIM115
            try:
                for line in self.proc.stdout:
                    if out is not None:
                        out.write(line)
                        out.flush()
                    with contextlib.suppress(orjson.JSONDecodeError):
                        self.records.put(orjson.loads(line))
            finally:
                if out is not None:
                    out.close()

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        for rec in self.seen:
            if pred(rec):
                return rec
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DemoFailed(f"edge node: no sign of {what} within {timeout:.0f} s")
            if self.proc.poll() is not None:
                raise DemoFailed(f"edge node exited with code {self.proc.returncode} before {what}")
            try:
                rec = self.records.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            self.seen.append(rec)
            if pred(rec):
                return rec


def expect(
    edge: EdgeProcess, since: int, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str
) -> tuple[dict[str, Any], int]:
    """The first record after position ``since`` matching ``pred``, and the position after it."""
    for i in range(since, len(edge.seen)):
        if pred(edge.seen[i]):
            return edge.seen[i], i + 1
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DemoFailed(f"no sign of {what} within {timeout:.0f} s")
        if edge.proc.poll() is not None:
            raise DemoFailed(f"node exited with code {edge.proc.returncode} before {what}")
        try:
            rec = edge.records.get(timeout=min(left, 0.2))
        except queue.Empty:
            continue
        edge.seen.append(rec)
        if pred(rec):
            return rec, len(edge.seen)


def drain(edge: EdgeProcess) -> int:
    """Move what the node logged so far into ``seen``; the position after it."""
    with contextlib.suppress(queue.Empty):
        while True:
            edge.seen.append(edge.records.get_nowait())
    return len(edge.seen)


def light(rec: dict[str, Any]) -> bool:
    """The station's own light record (the console lights log a copy of the signal after it)."""
    return rec.get("logger") == "guanjia.edge.station" and "signal" in rec and "journal" in rec


class Session:
    """The demo's shared state; the broker and the hub's address are set by hub.py."""

    def __init__(self, workdir: Path, console: Console) -> None:
        self.dir = workdir
        self.console = console
        self.steps: list[Step] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.broker: PrivateBroker | None = None
        self.api = ""
        self.auth: dict[str, str] = {}
        self.t0 = time.monotonic()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        t = time.monotonic()
        try:
            yield detail
        except Exception as err:
            self.steps.append(Step(name, False, str(err), time.monotonic() - t))
            self.console.print(f"[bold red]✗ {name}[/]: {err}")
            raise
        self.steps.append(Step(name, True, "; ".join(detail), time.monotonic() - t))
        self.console.print(f"[green]✓[/] {name}: {'; '.join(detail)}")

    def spawn(
        self, args: list[str], log_name: str, stdout_pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        logf = open(self.dir / log_name, "ab")  # noqa: SIM115 - closed when the demo ends
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=subprocess.PIPE if stdout_pipe else logf,
            stderr=logf,
            env=env,
        )
        self.procs.append(proc)
        return proc

    def start_edge(self, config: Path, log_stem: str) -> EdgeProcess:
        """An edge node as it runs in production (``python -m edge run``), its JSON log read."""
        proc = self.spawn(
            ["edge", "run", "--config", str(config), "--log-format", "json"],
            f"{log_stem}.log",
            True,
        )
        edge = EdgeProcess(proc, tee=self.dir / f"{log_stem}.jsonl")
        edge.start_reader()
        return edge

    def http(self, method: str, path: str, **kw: Any) -> Any:
        """The hub's API (``/api/v1``) as the demo seller; an error status fails the step."""
        r = httpx.request(method, f"{self.api}/api/v1{path}", headers=self.auth, timeout=15, **kw)
        if r.status_code >= 400:
            raise DemoFailed(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.broker is not None:
            self.broker.stop()
