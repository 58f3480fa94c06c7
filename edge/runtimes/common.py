"""What the pack and stocktake runtimes share: one station step, durable first.

A station is a pure state machine (edge/stations/); its runtime owns the
devices, turns scanner lines and device results into the station's events,
and runs each command list in this order (docs/stations.md, "Operator
safety"; docs/sync.md, "Durable first"):

1. every :class:`~edge.stations.common.Record` of the step, with any local
   journal rows the step implies (a label intent before a print), in ONE
   :meth:`edge.store.store.Store.atomic` transaction — fsynced when it returns;
2. :class:`~edge.stations.common.Log` lines;
3. :class:`~edge.stations.common.Show` on the lights, each logged with the
   journal rows it reports (so a log line proves its verdict is on disk);
4. device commands (weigh, query printer, print), which run as tasks and
   come back as events.

Steps never interleave: :meth:`StationRuntime.dispatch` is synchronous and
everything runs on the daemon's one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from edge.devices.base import DeviceHealth
from edge.devices.lights import Lights
from edge.devices.scanner import ScanInput
from edge.ops import metrics
from edge.stations.common import (
    Log,
    LogLevel,
    Record,
    Show,
    Signal,
    StockMovement,
    Verdict,
    printable,
)
from edge.stations.sentences import Common, Sentence, say
from edge.stations.stocktake import StocktakeReport
from edge.store import journal
from edge.store.store import Store
from protocol.messages import Message

log = logging.getLogger("guanjia.edge.station")

ExtraTx = Callable[[sqlite3.Connection], None]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the runtime ---------------------------------------------------------------------------


class StationRuntime:
    """Base of the per-kind runtimes: dispatch, durable commit, lights, ticks, tasks."""

    kind = "station"
    tick_s = 0.1

    def __init__(
        self,
        store: Store,
        lights: Lights,
        station_name: str,
        *,
        command_prefix: str = "#GJ:",
        kick: Callable[[], None] = lambda: None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.store = store
        self.lights = lights
        self.station_name = station_name
        self.command_prefix = command_prefix
        self.kick = kick
        self.clock_ms = clock_ms
        #: Scan received -> light command issued (durable commit in between), seconds.
        self.latencies: deque[float] = deque(maxlen=1_000_000)
        self.steps = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"{self.kind} ticks")

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._ticker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.on_tick(self.clock_ms())
            except Exception:  # a bug in a tick must not stop the station's clock
                log.exception("%s station tick failed", self.kind)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", name)

    # --- input --------------------------------------------------------------------------

    def device_health(self) -> list[DeviceHealth]:
        """Health of every device this station owns (reported in the node's status)."""
        found: list[DeviceHealth] = []
        for attr in ("scale", "rfid"):
            dev = getattr(self, attr, None)
            if dev is not None and hasattr(dev, "health"):
                found.append(dev.health)
        printers = getattr(self, "printers", None) or {}
        found.extend(p.health for p in printers.values() if hasattr(p, "health"))
        return found

    async def on_scan(self, scan: ScanInput) -> None:
        """The scanner's callback: one line in, one station step out."""
        t0 = time.perf_counter()
        if scan.text is None:
            self.say(
                "scan.unreadable", Signal.UNKNOWN, f"unreadable scan ({scan.error}): scan again"
            )
        elif scan.text.startswith(self.command_prefix):
            self.on_key(scan.text[len(self.command_prefix) :])
        else:
            self.on_text(scan.text)
        took = time.perf_counter() - t0
        self.latencies.append(took)
        metrics.count_scan(self.kind)
        metrics.VERDICT_LATENCY.labels(station=self.kind).observe(took)

    def on_text(self, text: str) -> None:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def on_key(self, key: str) -> None:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def on_tick(self, now_ms: int) -> None:
        """Timeouts, device health and polls; the kinds override it."""

    def unknown_key(self, key: str) -> None:
        word = key.split(":", 1)[0]
        said = say(Common.UNKNOWN_KEY, key=printable(word))
        self.say(
            "input.unknown_key",
            Signal.UNKNOWN,
            said.english(),
            barcode=printable(self.command_prefix + word),
            said=(said,),
        )

    # --- one step -----------------------------------------------------------------------

    def handle(self, event: object) -> list[object]:  # pragma: no cover - kinds override
        raise NotImplementedError

    def device(self, command: object, event: object) -> None:  # pragma: no cover
        raise NotImplementedError

    def before_commit(
        self, conn: sqlite3.Connection, event: object, commands: list[object]
    ) -> None:
        """Local rows a step implies beyond its Records (runs inside the transaction)."""

    def on_record(self, conn: sqlite3.Connection, payload: object, at_ms: int) -> None:
        """Local rows a record implies (runs inside the transaction)."""

    def dispatch(self, event: object, extra_tx: ExtraTx | None = None) -> list[object]:
        """Run one station step: handle, commit, log, show, device commands."""
        commands = list(self.handle(event))
        self.steps += 1
        self.execute(commands, event, extra_tx)
        return commands

    def execute(
        self, commands: list[object], event: object = None, extra_tx: ExtraTx | None = None
    ) -> bool:
        """Run a step's commands; False when its commit failed (nothing of it is on disk)."""
        now = self.clock_ms()
        journal_ids: list[int] = []
        appended = 0
        try:
            with self.store.atomic() as conn:
                for command in commands:
                    if isinstance(command, Record):
                        done = self._commit(conn, command.payload, now)
                        if done.journal_id is not None:
                            journal_ids.append(done.journal_id)
                        if done.seq is not None:
                            appended += 1
                        self.on_record(conn, command.payload, now)
                self.before_commit(conn, event, commands)
                if extra_tx is not None:
                    extra_tx(conn)
        except Exception as err:
            # Nothing of this step is on disk: show no verdict, only the fault.
            log.exception("%s station: commit failed, verdict not shown", self.kind)
            text = f"station store failed ({type(err).__name__}): call a lead"
            self.lights.show(Signal.FAULT, text)
            return False
        if appended:
            self.kick()
        for command in commands:
            if isinstance(command, Log):
                level = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
                log.log(level[command.level], command.text, extra={"station": self.station_name})
        for command in commands:
            if isinstance(command, Show):
                log.info(
                    "light %s: %s",
                    command.signal.value,
                    command.text,
                    extra={
                        "station": self.station_name,
                        "signal": command.signal.value,
                        "journal": journal_ids,
                    },
                )
                self.lights.show(command.signal, command.text)
                metrics.observe_verdict(command.signal.value, station=self.kind)
        for command in commands:
            if not isinstance(command, Record | Log | Show):
                self.device(command, event)
        return True

    def _commit(self, conn: sqlite3.Connection, payload: object, now: int) -> journal.Committed:
        if isinstance(payload, Verdict):
            return journal.add_verdict(conn, payload, now)
        if isinstance(payload, Message):
            return journal.append_fact(self.store, payload, now)
        if isinstance(payload, StockMovement):
            return journal.add_movement(conn, payload, now)
        if isinstance(payload, StocktakeReport):
            return journal.add_report(conn, self.station_name, payload, now)
        raise TypeError(f"no journal table for {type(payload).__name__}")

    def say(
        self,
        kind: str,
        signal: Signal,
        text: str,
        said: tuple[Sentence, ...] = (),
        **fields: str | None,
    ) -> None:
        """A verdict of the runtime itself (bad operator key, unreadable line): journal, then light."""
        level: LogLevel = (
            "info" if signal in (Signal.OK, Signal.PROMPT, Signal.COMPLETE) else "warning"
        )
        verdict = Verdict(self.station_name, kind, text, at_ms=self.clock_ms(), said=said, **fields)
        self.execute([Record(verdict), Log(level, text), Show(signal, text)])

    def run_all(self, commands: Sequence[object]) -> None:
        """Execute a command list produced outside :meth:`dispatch` (tests, tools)."""
        self.execute(list(commands))
