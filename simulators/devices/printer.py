"""Courier label printer (ZPL II on raw TCP 9100) and ESC/POS receipt printer simulators.

Byte-for-byte what a Zebra-class printer does on its raw port: formats
(``^XA..^XZ``) are printed in order, ``~HS`` is answered with the three status
strings in one write, ``~HQES`` with the error and warning flags and ``~HI`` with the
printer's identity (each in one write too: real Zebra drivers ask both, and a
simulator that answered only ``~HS`` left them waiting for their timeout; issue 19,
finding 8), ``~JA`` cancels held formats, ``~PP``/``~PS`` pause and
resume. With paper out, head open or ribbon out the printer still accepts
bytes but holds the formats and prints nothing until the fault clears.
Every printed label is kept (raw bytes + parsed layout) and rendered as a
PNG in ``out_dir``.

Fault scripting for tests: :meth:`LabelPrinterSimulator.close_mid_job` makes
the next format arriving be cut off by a connection reset; ``hs_silent``
makes the printer never answer ``~HS`` (nor ``~HQES``, ``~HI``); ``hq_supported``
False makes it a printer older than ``~HQ``.

The receipt printer (:class:`ReceiptPrinterSimulator`) answers ESC/POS
``DLE EOT n`` real-time status and keeps each receipt (text up to a cut).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from protocol.devices import escpos, zpl, zpl_query
from protocol.errors import NeedData, RemoteProtocolError


def _png_writer() -> Callable[[zpl.LabelLayout, Path], Path] | None:
    """The label preview writer, or None: the preview is a convenience; a missing Pillow
    must not stop the printer (imported here, not at the top, for that reason only)."""
    try:
        from simulators.devices.zpl_render import write_png
    except ImportError:  # pragma: no cover - depends on the install
        return None
    return write_png


write_png = _png_writer()

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9-]")


@dataclass
class PrintedLabel:
    """One format the printer received: raw bytes, what it draws, where the PNG went."""

    seq: int
    raw: bytes
    layout: zpl.LabelLayout
    png: Path | None = None
    render_error: str | None = None


@dataclass
class LabelPrinterState:
    """The switches a person flips on the real printer."""

    paper_out: bool = False
    head_open: bool = False
    paused: bool = False
    ribbon_out: bool = False
    #: Faults only ~HQES reports (~HS has no flag for them).
    cutter_fault: bool = False
    #: A warning: printing goes on.
    paper_near_end: bool = False

    def blocked(self) -> bool:
        return (
            self.paper_out or self.head_open or self.paused or self.ribbon_out or self.cutter_fault
        )


class LabelPrinterSimulator:
    """In-process ZPL printer: ``await start()``, point a driver at ``.port``, ``await stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        out_dir: Path | None = None,
        label_length_dots: int = 1200,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.out_dir = out_dir
        self.state = LabelPrinterState()
        self.hs_silent = False
        #: What ~HI answers (an older printer without ~HQES: ``hq_supported = False``).
        self.identity = zpl_query.HostIdentification("GUANJIA-SIM-203dpi", "V0.1.0", 8, 8192)
        self.hq_supported = True
        self.label_length_dots = label_length_dots
        self.printed: list[PrintedLabel] = []
        self.held: list[tuple[bytes, zpl.LabelFormat]] = []
        self.received = bytearray()  # every byte from every connection, in order
        self.errors: list[str] = []
        self.status_requests = 0
        self._close_next = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._partial = False
        self._seq = 0

    # --- lifecycle ---------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port)
        log.info("label printer simulator on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        # Let each connection handler see its EOF and finish before we return.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> LabelPrinterSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- scripted state ----------------------------------------------------

    def set_state(
        self,
        *,
        paper_out: bool | None = None,
        head_open: bool | None = None,
        paused: bool | None = None,
        ribbon_out: bool | None = None,
        cutter_fault: bool | None = None,
        paper_near_end: bool | None = None,
    ) -> None:
        """Flip the printer's switches; held formats print once nothing blocks."""
        s = self.state
        if paper_out is not None:
            s.paper_out = paper_out
        if head_open is not None:
            s.head_open = head_open
        if paused is not None:
            s.paused = paused
        if ribbon_out is not None:
            s.ribbon_out = ribbon_out
        if cutter_fault is not None:
            s.cutter_fault = cutter_fault
        if paper_near_end is not None:
            s.paper_near_end = paper_near_end
        self._flush_held()

    def close_mid_job(self) -> None:
        """Reset the connection the next time a format starts arriving, printing nothing."""
        self._close_next = True

    def host_status(self) -> zpl.HostStatus:
        s = self.state
        return zpl.HostStatus(
            paper_out=s.paper_out,
            paused=s.paused,
            head_open=s.head_open,
            ribbon_out=s.ribbon_out,
            label_length_dots=self.label_length_dots,
            formats_in_buffer=len(self.held),
            partial_format=self._partial,
        )

    def host_query_status(self) -> zpl_query.HostQueryStatus:
        s = self.state
        errors = (
            (zpl_query.MEDIA_OUT if s.paper_out else 0)
            | (zpl_query.RIBBON_OUT if s.ribbon_out else 0)
            | (zpl_query.HEAD_OPEN if s.head_open else 0)
            | (zpl_query.CUTTER_FAULT if s.cutter_fault else 0)
        )
        warnings = zpl_query.PAPER_NEAR_END if s.paper_near_end else 0
        return zpl_query.HostQueryStatus(errors, warnings)

    # --- wire --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        dec = zpl.ZplStreamDecoder()
        try:
            while data := await reader.read(65536):
                self.received += data
                dec.feed(data)
                if self._close_next and dec.in_format:
                    self._close_next = False
                    self.errors.append("scripted close mid-job")
                    writer.transport.abort()
                    return
                if not self._drain(dec, writer):
                    dec = zpl.ZplStreamDecoder()
                self._partial = dec.in_format
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            self._partial = False
            if not writer.transport.is_closing():
                writer.close()

    def _drain(self, dec: zpl.ZplStreamDecoder, writer: asyncio.StreamWriter) -> bool:
        """Act on every complete message; False if the stream was garbage."""
        while True:
            try:
                msg = dec.next_message()
            except RemoteProtocolError as err:
                # A real printer skips what it cannot parse; we also keep a note.
                self.errors.append(str(err))
                log.warning("label printer: discarding input: %s", err)
                return False
            if isinstance(msg, NeedData):
                return True
            self._partial = dec.in_format
            if isinstance(msg, zpl.ControlCommand):
                self._control(msg, writer)
            else:
                self._format(msg)

    def _control(self, cmd: zpl.ControlCommand, writer: asyncio.StreamWriter) -> None:
        if cmd.code == "HS":
            self.status_requests += 1
            if not self.hs_silent:
                # The three strings go out in one write, as the printer does.
                writer.write(zpl.encode_host_status(self.host_status()))
        elif cmd.code == "HQ":
            self.status_requests += 1
            # Only the ES query type is simulated; a printer ignores a type it does not
            # know, and so does one without ~HQ at all (hq_supported False). The block
            # goes out in one write: a client never sees half of it.
            if cmd.params.upper() == "ES" and self.hq_supported and not self.hs_silent:
                writer.write(zpl_query.encode_host_query_status(self.host_query_status()))
        elif cmd.code == "HI":
            if not self.hs_silent:
                writer.write(zpl_query.encode_host_identification(self.identity))
        elif cmd.code == "JA":
            self.held.clear()
        elif cmd.code == "PP":
            self.state.paused = True
        elif cmd.code == "PS":
            self.set_state(paused=False)

    def _format(self, fmt: zpl.LabelFormat) -> None:
        self.held.append((fmt.raw, fmt))
        self._flush_held()

    def _flush_held(self) -> None:
        while self.held and not self.state.blocked():
            raw, fmt = self.held.pop(0)
            self._print(raw, fmt)

    def _print(self, raw: bytes, fmt: zpl.LabelFormat) -> None:
        try:
            layout = zpl.interpret(fmt)
        except RemoteProtocolError as err:
            self.errors.append(str(err))
            return
        self._seq += 1
        label = PrintedLabel(self._seq, raw, layout)
        self.printed.append(label)
        if self.out_dir is not None and write_png is not None:
            name = _SAFE.sub("_", (layout.barcodes() or ["label"])[0])[:40]
            path = self.out_dir / f"label-{self._seq:04d}-{name}.png"
            try:
                label.png = write_png(layout, path)
            except Exception as err:  # the preview must never stop printing
                label.render_error = f"{type(err).__name__}: {err}"
                log.warning("label printer: preview failed: %s", label.render_error)


# ---------------------------------------------------------------------------
# ESC/POS receipt printer
# ---------------------------------------------------------------------------


@dataclass
class Receipt:
    raw: bytes = b""
    lines: list[str] = field(default_factory=list)
    cut: bool = False
    printed: bool = True


class ReceiptPrinterSimulator:
    """In-process ESC/POS network receipt printer (text, cuts, DLE EOT status)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, encoding: str = "gb18030") -> None:
        self.host = host
        self.requested_port = port
        self.encoding = encoding
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.status_silent = False
        self.receipts: list[Receipt] = []
        self.errors: list[str] = []
        self.status_requests: list[int] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        # Let each connection handler see its EOF and finish before we return.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    def status_byte(self, n: int) -> bytes:
        offline = self.paper_out or self.cover_open
        bits = 0
        if n == escpos.PRINTER and offline:
            bits = 0x08
        elif n == escpos.OFFLINE:
            bits = (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)
        elif n == escpos.PAPER:
            bits = (0x60 if self.paper_out else 0) | (0x0C if self.paper_near_end else 0)
        return escpos.encode_status(escpos.RealtimeStatus(n, bits))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        dec = escpos.EscPosStreamDecoder()
        current = Receipt()
        try:
            while data := await reader.read(65536):
                dec.feed(data)
                current, ok = self._drain(dec, writer, current)
                if not ok:
                    dec = escpos.EscPosStreamDecoder()  # drop the garbage, keep serving
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if current.raw.strip(b"\x1b@\r\n"):
                self._finish(current)
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    def _drain(
        self, dec: escpos.EscPosStreamDecoder, writer: asyncio.StreamWriter, current: Receipt
    ) -> tuple[Receipt, bool]:
        while True:
            try:
                msg = dec.next_message()
            except RemoteProtocolError as err:
                self.errors.append(str(err))
                return current, False
            if isinstance(msg, NeedData):
                return current, True
            if isinstance(msg, escpos.StatusRequest):
                # Real-time: answered at once, and not part of the receipt.
                self.status_requests.append(msg.n)
                if not self.status_silent:
                    writer.write(self.status_byte(msg.n))
                continue
            if isinstance(msg, escpos.Text):
                current.raw += msg.data
                current.lines.append(
                    msg.data.rstrip(b"\r\n").decode(self.encoding, errors="replace")
                )
            else:
                current.raw += msg.raw
                if msg.name == "GS V cut":
                    current.cut = True
                    self._finish(current)
                    current = Receipt()

    def _finish(self, receipt: Receipt) -> None:
        receipt.printed = not (self.paper_out or self.cover_open)
        self.receipts.append(receipt)


# ---------------------------------------------------------------------------
# Standalone
# ---------------------------------------------------------------------------


async def _run(host: str, port: int, out_dir: Path, escpos_port: int) -> None:
    label = LabelPrinterSimulator(host, port, out_dir)
    await label.start()
    receipt: ReceiptPrinterSimulator | None = None
    if escpos_port:
        receipt = ReceiptPrinterSimulator(host, escpos_port)
        await receipt.start()
        typer.echo(f"ESC/POS receipt printer on {host}:{receipt.port}")
    typer.echo(f"ZPL label printer on {host}:{label.port}, previews in {out_dir}/")
    try:
        await asyncio.Event().wait()
    finally:
        await label.stop()
        if receipt is not None:
            await receipt.stop()


def command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="ZPL raw TCP port (printers use 9100).")] = 9100,
    out_dir: Annotated[
        Path, typer.Option(help="Folder for a PNG preview of every label printed.")
    ] = Path("labels"),
    escpos_port: Annotated[
        int, typer.Option(help="Also run an ESC/POS receipt printer on this port (0 = off).")
    ] = 0,
) -> None:
    """Run a Zebra-style ZPL label printer (and optionally an ESC/POS receipt printer)."""
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(host, port, out_dir, escpos_port))
