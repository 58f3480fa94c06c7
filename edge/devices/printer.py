"""Drivers for the courier label printer (ZPL II, raw TCP 9100) and the ESC/POS receipt printer.

Thin asyncio adapters: the wire format lives in :mod:`protocol.devices.zpl`
and :mod:`protocol.devices.escpos`; these classes own one connection, the
device's health, and reconnect backoff. Every failure reaches callers as
:class:`~edge.devices.base.DeviceError`; :meth:`LabelPrinter.run` never raises.

A label print is: ``~HS`` with ``~HQES`` behind it in the same write (refuse if paper
out / head open / paused / ribbon out, or a fault only ``~HQES`` reports: a cutter
fault, an overheated motor, no printhead; its warnings, paper near end, go to the
device's health), send the format, ``~HS`` again (the printer answers only after it has
parsed everything before the ``~HS``, so a dropped connection or a fault
shows up here instead of as a silent lost label).

``~HQES`` (ZPL II Programming Guide, "~HQ Host Query"; protocol/devices/zpl_query.py)
is asked until a printer once leaves it unanswered: an older model without ``~HQ``
then gets ``~HS`` alone (the connection is dropped, so a late answer cannot be taken
for the next one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from edge.devices.base import AvailabilityLog, DeviceError, DeviceHealth, reconnect_backoff
from protocol.backoff import Backoff
from protocol.devices import escpos as escpos_codec
from protocol.devices import zpl, zpl_query
from protocol.errors import NeedData, RemoteProtocolError

log = logging.getLogger(__name__)

HS_REQUEST = b"~HS"

_Op = Callable[[], Awaitable[zpl.HostStatus]]
# python-escpos ships no type hints; its Network printer is handled as Any.
_EscposNetwork = Any


class LabelPrinter:
    """One ZPL label printer on the network (or the simulator)."""

    kind = "label_printer"

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        name: str = "label-printer",
        stock: zpl.LabelStock = zpl.DEFAULT_STOCK,
        connect_timeout: float = 3.0,
        status_timeout: float = 2.0,
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.stock = stock
        self.connect_timeout = connect_timeout
        self.status_timeout = status_timeout
        self.backoff = backoff or reconnect_backoff(base=0.2, cap=30.0)
        self.health = DeviceHealth(name=name, kind=self.kind)
        self._avail = AvailabilityLog(self.health, logger or log)
        self.last_status: zpl.HostStatus | None = None
        #: Whether the printer answers ``~HQES``: None until it has or has not once.
        self.host_query: bool | None = None
        self.labels_sent = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    # --- public ------------------------------------------------------------

    async def status(self) -> zpl.HostStatus:
        """Ask ``~HS`` and return the decoded answer."""
        async with self._lock:
            return await self._guarded(self._query_status, "status query")

    async def print_label(self, label: zpl.ShippingLabel) -> zpl.HostStatus:
        """Print one courier label; returns the printer status after the job."""
        return await self.print_zpl(zpl.build_label(label, self.stock))

    async def print_zpl(self, job: bytes) -> zpl.HostStatus:
        """Send a ZPL job after a ready check, then confirm with ``~HS``."""
        async with self._lock:
            before = await self._guarded(self._query_status, "status before print")
            self._refuse_if_not_ready(before, "refusing to print")
            after = await self._guarded(lambda: self._send_and_confirm(job), "print")
            self.labels_sent += 1
            self._refuse_if_not_ready(after, "after the job the printer reports")
            if after.partial_format:
                self._fail("printer reports a partial format: the job did not arrive whole")
            return after

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Poll ``~HS`` until ``stop`` is set; reconnect with backoff; never raises."""
        while not stop.is_set():
            try:
                await self.status()
            except DeviceError:
                delay = self.backoff.next_delay()
            else:
                self.backoff.reset()
                delay = interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        await self.close()

    async def close(self) -> None:
        w, self._reader, self._writer = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await w.wait_closed()

    # --- internals ---------------------------------------------------------

    async def _guarded(self, op: _Op, what: str) -> zpl.HostStatus:
        """Run ``op``; translate every failure to DeviceError and drop the connection."""
        try:
            await self._connect()
            status = await op()
        except DeviceError:
            await self.close()
            raise
        except TimeoutError as err:
            await self.close()
            self._fail(f"{what}: no answer to ~HS within {self.status_timeout:g} s", err)
        except RemoteProtocolError as err:
            await self.close()
            self._fail(f"{what}: bad ~HS answer: {err}", err)
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            await self.close()
            phase = "connection closed mid-job" if what == "print" else "connection lost"
            self._fail(f"{what}: {phase} ({type(err).__name__}: {err})", err)
        except OSError as err:
            await self.close()
            self._fail(f"{what}: {type(err).__name__}: {err}", err)
        self.last_status = status
        self.health.last_reading_at = time.time()
        self.health.extra["problems"] = status.problems()
        self.health.extra["warnings"] = status.warnings()
        self.health.extra["formats_in_buffer"] = status.formats_in_buffer
        self._avail.recovered()
        return status

    def _fail(self, reason: str, err: BaseException | None = None) -> NoReturn:
        self._avail.failed(reason)
        raise DeviceError(self.name, reason) from err

    def _refuse_if_not_ready(self, status: zpl.HostStatus, what: str) -> None:
        problems = status.problems()
        if problems:
            # The printer answers, so it stays "connected"; the job is the failure.
            self.health.errors += 1
            self.health.last_error = f"{what}: {', '.join(problems)}"
            raise DeviceError(self.name, self.health.last_error)

    async def _connect(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout
            )
        except TimeoutError as err:
            self._fail(f"connect to {self.host}:{self.port} timed out", err)
        except OSError as err:
            self._fail(f"cannot connect to {self.host}:{self.port}: {err}", err)

    async def _query_status(self) -> zpl.HostStatus:
        assert self._writer is not None
        ask_hq = self.host_query is not False
        # One write: ~HS, and ~HQES behind it; the printer answers them in order.
        self._writer.write(HS_REQUEST + (zpl_query.HQES_REQUEST if ask_hq else b""))
        await self._writer.drain()
        dec = zpl.HostStatusDecoder()
        status = await asyncio.wait_for(self._read_status(dec), self.status_timeout)
        if not ask_hq:
            return status
        try:
            query = await asyncio.wait_for(self._read_query(dec.pending()), self.status_timeout)
        except TimeoutError:
            if self.host_query:
                raise  # it answered before: now it is silent, a fault like any other
            log.info("printer %s does not answer ~HQES: asking ~HS alone", self.name)
            self.host_query = False
            await self.close()  # its late answer must not pass for the next one
            return status
        self.host_query = True
        return replace(status, query=query)

    async def _read_query(self, already: bytes) -> zpl_query.HostQueryStatus:
        assert self._reader is not None
        dec = zpl_query.HostQueryDecoder()
        dec.feed(already)
        while True:
            msg = dec.next_message()
            if not isinstance(msg, NeedData):
                return msg
            data = await self._reader.read(1024)
            if not data:
                raise ConnectionResetError("printer closed the connection")
            dec.feed(data)

    async def _send_and_confirm(self, job: bytes) -> zpl.HostStatus:
        assert self._writer is not None
        # One write: the format and the ~HS behind it. The printer answers ~HS
        # only once it has read everything before it.
        self._writer.write(job + HS_REQUEST)
        await self._writer.drain()
        return await asyncio.wait_for(self._read_status(), self.status_timeout)

    async def _read_status(self, dec: zpl.HostStatusDecoder | None = None) -> zpl.HostStatus:
        assert self._reader is not None
        dec = dec or zpl.HostStatusDecoder()
        while True:
            msg = dec.next_message()
            if not isinstance(msg, NeedData):
                return msg
            data = await self._reader.read(1024)
            if not data:
                raise ConnectionResetError("printer closed the connection")
            dec.feed(data)


# ---------------------------------------------------------------------------
# ESC/POS receipt printer through python-escpos
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptStatus:
    online: bool
    cover_open: bool
    paper_end: bool
    paper_near_end: bool

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.paper_end:
            out.append("paper end")
        if self.cover_open:
            out.append("cover open")
        if not self.online and not out:
            out.append("offline")
        return out


class ReceiptPrinter:
    """ESC/POS network receipt printer driven with python-escpos' ``Network`` class.

    python-escpos is blocking, so each operation runs in a worker thread with
    its own connection; its socket timeout bounds every read.
    """

    kind = "receipt_printer"

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        name: str = "receipt-printer",
        timeout: float = 2.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.timeout = timeout
        self.health = DeviceHealth(name=name, kind=self.kind)
        self._avail = AvailabilityLog(self.health, logger or log)
        self._lock = asyncio.Lock()

    async def status(self) -> ReceiptStatus:
        async with self._lock:
            return await self._call(self._status_sync, "status query")

    async def print_receipt(self, lines: Sequence[str], cut: bool = True) -> ReceiptStatus:
        """Print ``lines``; refuses when the printer reports offline/paper end/cover open."""
        async with self._lock:
            before = await self._call(self._status_sync, "status before print")
            if before.problems():
                reason = f"refusing to print: {', '.join(before.problems())}"
                self.health.errors += 1
                self.health.last_error = reason
                raise DeviceError(self.name, reason)
            return await self._call(lambda: self._print_sync(lines, cut), "print")

    async def _call(self, fn: Callable[[], ReceiptStatus], what: str) -> ReceiptStatus:
        try:
            result = await asyncio.to_thread(fn)
        except TimeoutError as err:
            reason = f"{what}: no answer to DLE EOT within {self.timeout:g} s"
            self._avail.failed(reason)
            raise DeviceError(self.name, reason) from err
        except RemoteProtocolError as err:
            self._avail.failed(f"{what}: {err}")
            raise DeviceError(self.name, f"{what}: {err}") from err
        except Exception as err:  # python-escpos raises its own and socket errors
            reason = f"{what}: {type(err).__name__}: {err}"
            self._avail.failed(reason)
            raise DeviceError(self.name, reason) from err
        self.health.last_reading_at = time.time()
        self._avail.recovered()
        return result

    def _open(self) -> _EscposNetwork:
        from escpos.printer import Network  # type: ignore[import-untyped]

        p = Network(self.host, self.port, timeout=self.timeout)
        p.open()
        return p

    def _query(self, p: _EscposNetwork, n: int) -> escpos_codec.RealtimeStatus:
        answer = p.query_status(escpos_codec.status_request(n))
        if not answer:
            raise ConnectionResetError("printer closed the connection")
        msg = escpos_codec.decode_status(n, answer)
        assert not isinstance(msg, NeedData)
        return msg

    def _status_with(self, p: _EscposNetwork) -> ReceiptStatus:
        one = self._query(p, escpos_codec.PRINTER)
        two = self._query(p, escpos_codec.OFFLINE)
        four = self._query(p, escpos_codec.PAPER)
        return ReceiptStatus(
            online=not one.offline,
            cover_open=two.cover_open,
            paper_end=four.paper_end or two.paper_end_stop,
            paper_near_end=four.paper_near_end,
        )

    def _status_sync(self) -> ReceiptStatus:
        p = self._open()
        try:
            return self._status_with(p)
        finally:
            p.close()

    def _print_sync(self, lines: Sequence[str], cut: bool) -> ReceiptStatus:
        p = self._open()
        try:
            p.hw("INIT")
            for line in lines:
                p.textln(line)
            if cut:
                p.cut()
            return self._status_with(p)
        finally:
            p.close()
