"""Wires a station to its devices, the store and the sync agent.

The order inside :meth:`EdgeNode.on_scan` is the safety rule of the whole
node: the station decides, the store commits (fsynced), and only then does
the operator see the light. The sync agent is kicked after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version

from edge.config import EdgeConfig
from edge.devices.scanner import LineScanner, ScanInput
from edge.feedback import Feedback, make_feedback
from edge.stations.scan_check import RecordScan, ScanCheckStation, Scanned, Show, Signal
from edge.store import Store
from edge.sync import SyncAgent

log = logging.getLogger("guanjia.edge")


def software_version() -> str:
    try:
        return f"guanjia {version('guanjia')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "guanjia (unpackaged)"


class EdgeNode:
    def __init__(self, config: EdgeConfig, feedback: Feedback | None = None) -> None:
        self.config = config
        self.store = Store(config.node.data_dir / "edge.db", config.node.id)
        self.feedback = feedback or make_feedback(
            config.feedback.kind,
            config.feedback.green_pin,
            config.feedback.red_pin,
            config.feedback.buzzer_pin,
            config.feedback.mock_pins,
        )
        self.station = ScanCheckStation(config.station.name)
        self.sync = SyncAgent(self.store, config.mqtt, config.sync, software=software_version())
        self.scanner = LineScanner(config.scanner.host, config.scanner.port, self.on_scan_input)
        self.epoch = 0

    async def run(self, ready: asyncio.Event | None = None) -> None:
        self.epoch = self.store.start_epoch(software_version(), self.config.station.kind)
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
        try:
            await self.sync.run()
        finally:
            await self.scanner.stop()
            self.feedback.close()
            self.store.close()

    async def on_scan_input(self, scan: ScanInput) -> None:
        if scan.text is None:
            self.feedback.show(Signal.ERROR, f"unreadable scan: {scan.error}")
            return
        sku = self.store.lookup_barcode(scan.text)
        for command in self.station.handle(Scanned(scan.text, sku.sku_code if sku else None)):
            if isinstance(command, RecordScan):
                event = self.store.record_scan(command.payload)  # durable before anything is shown
                log.info(
                    "scan committed: seq %d %s -> %s",
                    event.seq,
                    command.payload.barcode,
                    command.payload.verdict,
                    extra={
                        "seq": event.seq,
                        "barcode": command.payload.barcode,
                        "verdict": command.payload.verdict,
                    },
                )
                self.sync.kick()
            elif isinstance(command, Show):
                self.feedback.show(command.signal, command.text)
