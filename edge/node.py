"""Wires a station to its devices, the store and the sync agent.

Every runtime keeps the safety rule of the whole node: the station decides,
the store commits (fsynced), and only then does the operator see the light.
The sync agent is kicked after the commit.

``station.kind`` picks the runtime: ``demo`` (and a pick node's line scanner) is
the scan-check station of :mod:`edge.runtimes.scan_check`;
``pack``, ``stocktake`` and ``inbound`` run :mod:`edge.runtimes.pack` /
:mod:`edge.runtimes.stocktake` / :mod:`edge.runtimes.receive`
(same rule, one transaction per station step, see :mod:`edge.runtimes.common`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from edge.config import EdgeConfig
from edge.devices.lights import Lights, make_lights
from edge.devices.scanner import LineScanner, ScanInput
from edge.ops import metrics, systemd
from edge.runtimes.common import StationRuntime
from edge.runtimes.scan_check import ScanCheckRuntime
from edge.stations.common import Signal
from edge.store.store import Store
from edge.sync import SyncAgent
from protocol.messages import DeviceStatus

if TYPE_CHECKING:  # fastapi loads only on a pick node
    from fastapi import FastAPI

log = logging.getLogger("guanjia.edge")


def software_version() -> str:
    try:
        return f"guanjia {version('guanjia')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "guanjia (unpackaged)"


def make_runtime(
    config: EdgeConfig, store: Store, lights: Lights, kick: Callable[[], None]
) -> StationRuntime:
    """The runtime of ``config.station.kind`` (pack, stocktake)."""
    if config.station.kind == "pack":
        from edge.runtimes.pack import PackRuntime

        return PackRuntime(store, lights, config, kick=kick)
    if config.station.kind == "stocktake":
        from edge.runtimes.stocktake import StocktakeRuntime

        return StocktakeRuntime(store, lights, config, kick=kick)
    if config.station.kind == "inbound":
        from edge.runtimes.receive import ReceiveRuntime

        return ReceiveRuntime(store, lights, config, kick=kick)
    if config.station.kind == "returns":
        from edge.runtimes.returns import ReturnsRuntime

        return ReturnsRuntime(store, lights, config, kick=kick)
    raise ValueError(f"station kind {config.station.kind!r} has no runtime")


def device_statuses(runtime: StationRuntime | None) -> list[DeviceStatus]:
    if runtime is None:
        return []
    now = time.time()
    out = []
    for h in runtime.device_health():
        age = None if h.last_reading_at is None else max(0.0, now - h.last_reading_at)
        out.append(
            DeviceStatus(
                name=h.name,
                kind=h.kind,
                connected=h.connected,
                errors=h.errors,
                last_error=(h.last_error or "")[:300] or None,
                last_reading_age_s=age,
            )
        )
    return out


class EdgeNode:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        lights: Lights | None = None,
        runtime: Callable[[Store, Lights, Callable[[], None]], StationRuntime] | None = None,
    ) -> None:
        """``lights``: where the station's signals go (default: the ``[feedback]`` section's);
        ``runtime``: build the station runtime yourself (tests inject devices this way)."""
        self.config = config
        self.store = Store(config.node.data_dir / "edge.db", config.node.id)
        self.sync = SyncAgent(self.store, config.mqtt, config.sync, software=software_version())
        fb = config.feedback
        self.lights: Lights = lights or make_lights(
            fb.kind, fb.green_pin, fb.red_pin, fb.buzzer_pin, fb.mock_pins
        )
        self.runtime: StationRuntime | None = None
        self.scan_check: ScanCheckRuntime | None = None
        on_scan: Callable[[ScanInput], Awaitable[None]]
        if config.station.kind in ("demo", "pick"):  # a pick node scans through its PDA API
            self.scan_check = ScanCheckRuntime(
                self.store, self.lights, config.station.name, kick=self.sync.kick
            )
            on_scan = self.scan_check.on_scan
        else:
            build = runtime or (lambda st, li, kick: make_runtime(config, st, li, kick))
            self.runtime = build(self.store, self.lights, self.sync.kick)
            on_scan = self.runtime.on_scan
            # Downlink hook: a cancel arriving mid-scan reaches the pack station at once
            # (edge/sync.py calls it after applying a batch; until then the runtime
            # still checks the open order's version before every step and every tick).
            hook = getattr(self.runtime, "on_down_applied", None)
            if hook is not None:
                self.sync.on_down_applied = hook
            if hasattr(self.runtime, "uplink"):  # the pack station's offline waybill pool
                status = self.sync.status
                self.runtime.uplink = lambda: status.connected and status.hub_online
            self.sync.devices = lambda: device_statuses(self.runtime)
        self.scanner = LineScanner(config.scanner.host, config.scanner.port, on_scan)
        self.epoch = 0
        #: The pick API app while a pick node serves it.
        self.pick_app: FastAPI | None = None

    def _start_epoch(self) -> None:
        """Begin this run's epoch, or, on a store that cannot be written, start degraded.

        Exiting would only be restarted by systemd into the same failure for ever (issue 19,
        finding 2): degraded, the node says why in its log, its status (``alarm``), its
        metrics (``guanjia_edge_store_writable`` 0) and its light, and refuses scans.
        """
        if not self.store.read_only:
            try:
                self.epoch = self.store.start_epoch(software_version(), self.config.station.kind)
                return
            except sqlite3.Error:
                if self.store.fault is None:
                    raise  # not a disk fault: a bug, let it be seen
        self.epoch = self.store.epoch
        why = self.store.fault or "store cannot be written"
        log.error(
            "edge node %s degraded: %s; no epoch started, scans are refused",
            self.store.node_id,
            why,
            extra={"node": self.store.node_id, "store_fault": why},
        )
        if self.scan_check is not None:
            self.scan_check.fault(why)
        else:
            self.lights.show(Signal.FAULT, f"station store failed ({why}): call a lead")

    async def run(self, ready: asyncio.Event | None = None) -> None:
        metrics.watch_store(lambda: self.store.fault is None)
        self._start_epoch()
        if self.runtime is not None:
            await self.runtime.start()
        extra: list[asyncio.Task[None]] = []
        if self.config.metrics.port:
            from edge.ops.metrics import serve_metrics

            serve_metrics(self.config.metrics.port, self.config.metrics.host)
        if self.config.station.kind == "pick":
            extra.append(asyncio.create_task(self._serve_pick_api(), name="pick-api"))
        port = await self.scanner.start()
        log.info(
            "edge node %s up: epoch %d, scanner on %s:%d, backlog %d",
            self.store.node_id,
            self.epoch,
            self.config.scanner.host,
            port,
            self.store.backlog(),
            extra={"epoch": self.epoch, "scanner_port": port, "node": self.store.node_id},
        )
        if ready is not None:
            ready.set()
        systemd.notify("READY=1")
        interval = systemd.watchdog_interval_s()
        if interval is not None:
            extra.append(
                asyncio.create_task(
                    systemd.keep_alive(self.store.readable, interval), name="watchdog"
                )
            )
        try:
            await self.sync.run()
        finally:
            systemd.notify("STOPPING=1")
            for task in extra:
                task.cancel()
            await self.scanner.stop()
            if self.runtime is not None:
                await self.runtime.stop()
            self.lights.close()
            self.store.close()

    async def _serve_pick_api(self) -> None:
        """The pick station's PDA API, in the daemon's own loop over the daemon's own store:
        one connection, one writer (the loop), one store clock; the sync agent sees the
        API's commits at its next poll."""
        import uvicorn  # imported here: only a pick node serves HTTP

        from edge.api.app import pick_app
        from edge.api.limits import HttpLimits
        from edge.api.server import uvicorn_options

        pick = self.config.pick
        assert pick is not None
        app = pick_app(
            self.store,
            pick.operators,
            station=self.config.station.name,
            warehouse=pick.warehouse,
            pda_service_worker=pick.pda_service_worker,
        )
        self.pick_app = app
        # A PO or return closed in the cloud reaches a receipt open on a handheld at once.
        if self.sync.on_down_applied is None:
            self.sync.on_down_applied = app.state.desks.on_down_applied

        class DaemonServer(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                # The daemon owns SIGTERM/SIGINT (edge/cli.py cancels its main task): uvicorn
                # must not install its own handlers and re-raise the signal after serving.
                yield

        server = DaemonServer(
            uvicorn.Config(
                app,
                host=pick.host,
                port=pick.port,
                log_config=None,
                access_log=False,
                # Idle and slow connections closed, heads bounded (edge/api/server.py).
                **uvicorn_options(HttpLimits()),
            )
        )
        log.info("pick API on %s:%d", pick.host, pick.port)
        await server.serve()
