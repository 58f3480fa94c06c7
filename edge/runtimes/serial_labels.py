"""The receiving station prints the item labels the hub asks for (``serial.label``,
docs/inbound.md "The new serial's label"): a unit the hub gave a new serial (``HUB-S…``)
still carries its old label until this node prints the new one.

The request is kept by the downlink's transaction (edge/store/serial_labels.py); this
prints it after that commit, on the station's item label printer, with the label the
station prints at its QC table (protocol/devices/zpl_item.py): the SKU's Code 128 barcode
and the serial. Each job is ``sent`` in one transaction before it leaves, and ``printed``
with its ``serial.label_printed`` fact and the verdict the light shows (a PROMPT: the
operator sticks the label on the unit) in another, so a label prints once: a redelivered
request finds its row, a restart prints what was still pending and never a job already sent
(:func:`edge.store.serial_labels.recover`). A printer that refuses the job shows FAULT; the
job is tried again after :attr:`HubLabels.retry_ms`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING

from edge.devices.base import DeviceError
from edge.devices.printer import LabelPrinter
from edge.runtimes.pack import _NOT_SENT
from edge.stations.common import Log, LogLevel, Record, Show, Signal, Verdict
from edge.stations.sentences import Receiving, Sentence, say
from edge.store import journal, serial_labels
from edge.store.store import StoreError
from protocol.devices.zpl_item import ItemLabel, build_item_label, code128_safe
from protocol.messages import DownBatch, SerialLabel, SerialLabelAsked, SerialLabelPrintedPayload

if TYPE_CHECKING:
    from edge.runtimes.common import StationRuntime

log = logging.getLogger("guanjia.edge.serial_labels")


def item_label(ask: SerialLabel) -> ItemLabel:
    """The label as the station prints one for a serial (edge/stations/receive.py
    ``_label``): the first of the SKU code and its barcodes that Code 128 can carry.
    Raises ValueError when none can, or the serial cannot."""
    code = next((c for c in (ask.sku_code, *ask.barcodes) if code128_safe(c)), None)
    if code is None:
        raise ValueError(f"{ask.sku_code} has no Code 128 barcode")
    return ItemLabel(ask.sku_code, ask.name or ask.sku_code, code, ask.serial)


class HubLabels:
    """Drains the node's pending ``serial.label`` requests to the runtime's printer."""

    #: After a refused job, how long before the next try (ms).
    retry_ms = 30_000

    def __init__(self, runtime: StationRuntime, printer: LabelPrinter | None) -> None:
        self.runtime = runtime
        self.printer = printer
        self._task: asyncio.Task[None] | None = None
        self._retry_at: int | None = None

    def start(self) -> None:
        """Report jobs sent before a stop as printed (unconfirmed), then print what waits."""
        rt = self.runtime
        now = rt.clock_ms()
        try:
            with rt.store.atomic() as conn:
                facts = serial_labels.recover(conn, now)
                for fact in facts:
                    journal.append_fact(rt.store, fact, now)
        except (sqlite3.Error, StoreError) as err:
            # A store that cannot be written (read-only after a fault) prints nothing: the
            # station starts all the same and shows its fault (edge/store/store.py).
            log.error("serial labels not printed: the store cannot be written (%s)", err)
            return
        for fact in facts:
            log.warning(
                "serial label %s was sent before the node stopped, without the printer's "
                "answer: counted as printed, not printed again",
                fact.serial,
            )
        if facts:
            rt.kick()
        self.wake()

    def on_down_applied(self, batch: DownBatch) -> None:
        if any(isinstance(c, SerialLabelAsked) for c in batch.changes):
            self.wake()

    def on_tick(self, now_ms: int) -> None:
        if self._retry_at is not None and now_ms >= self._retry_at:
            self._retry_at = None
            self.wake()

    def wake(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.runtime.spawn(self._drain(), "hub serial labels")

    async def _drain(self) -> None:
        while True:
            due = serial_labels.due(self.runtime.store.conn)
            if not due:
                return
            for ask in due:
                if not await self._one(ask):
                    self._retry_at = self.runtime.clock_ms() + self.retry_ms
                    return

    async def _one(self, ask: SerialLabel) -> bool:
        """Print one request; False when the printer could not take it (try later)."""
        rt = self.runtime
        if self.printer is None:
            log.warning("serial label %s waits: no item label printer configured", ask.serial)
            return False
        try:
            zpl = build_item_label(item_label(ask))
        except ValueError as err:
            problem = str(err)
            said = say(Receiving.HUB_LABEL_REFUSED, serial=ask.serial, problem=problem)
            rt.execute(
                self._verdict("label.hub_refused", Signal.FAULT, said, ask),
                extra_tx=lambda c: serial_labels.refuse(c, ask.request, problem, rt.clock_ms()),
            )
            return True
        with rt.store.atomic() as conn:
            if not serial_labels.send(conn, ask.request, self.printer.name, rt.clock_ms()):
                return True  # not pending any more
        try:
            await self.printer.print_zpl(zpl)
        except DeviceError as err:
            if err.reason.startswith(_NOT_SENT):  # refused before the job left: try later
                with rt.store.atomic() as conn:
                    serial_labels.unsent(conn, ask.request, err.reason, rt.clock_ms())
                said = say(Receiving.HUB_LABEL_FAILED, serial=ask.serial, problem=err.reason)
                rt.execute(self._verdict("label.hub_failed", Signal.FAULT, said, ask))
                return False
            # The job left and the answer failed: it may have printed, so it counts as
            # printed (never a second label by itself) and the operator checks the printer.
            said = say(Receiving.HUB_LABEL_UNSURE, serial=ask.serial, problem=err.reason)
            self._printed(ask, "label.hub_unsure", Signal.FAULT, said, unconfirmed=True)
            return True
        receipt = say(Receiving.HUB_LABEL_RECEIPT, receipt=ask.receipt) if ask.receipt else ""
        said = say(
            Receiving.HUB_LABEL_PRINTED,
            serial=ask.serial,
            sku=ask.sku_code,
            old=ask.replaces or "-",
            receipt=receipt,
        )
        self._printed(ask, "label.hub_printed", Signal.PROMPT, said, unconfirmed=False)
        return True

    def _printed(
        self, ask: SerialLabel, kind: str, signal: Signal, said: Sentence, *, unconfirmed: bool
    ) -> None:
        """The row turns ``printed`` with its fact and the verdict the light shows, or none
        of them does (``printed`` raises unless the row is ``sent``): one report per label."""
        rt = self.runtime
        assert self.printer is not None
        fact = SerialLabelPrintedPayload(
            request=ask.request,
            serial=ask.serial,
            sku_code=ask.sku_code,
            printer=self.printer.name,
            reprint=ask.reprint,
            unconfirmed=unconfirmed,
        )

        def mark(conn: sqlite3.Connection) -> None:
            serial_labels.printed(conn, ask.request, rt.clock_ms(), unconfirmed=unconfirmed)

        rt.execute([Record(fact), *self._verdict(kind, signal, said, ask)], extra_tx=mark)

    def _verdict(self, kind: str, signal: Signal, said: Sentence, ask: SerialLabel) -> list[object]:
        text = said.english()
        rt = self.runtime
        verdict = Verdict(
            rt.station_name,
            kind,
            text,
            sku_code=ask.sku_code,
            serial=ask.serial,
            at_ms=rt.clock_ms(),
            said=(said,),
        )
        level: LogLevel = "info" if signal is Signal.PROMPT else "warning"
        return [Record(verdict), Log(level, text), Show(signal, text)]
