"""A virtual USB barcode scanner, made real through Linux UHID.

Writing ``struct uhid_event`` records to ``/dev/uhid`` (Linux
Documentation/hid/uhid.rst) creates a HID device the kernel treats like a
plugged-in one: ``UHID_CREATE2`` with a report descriptor makes a
``/dev/hidrawN`` (and, for a keyboard, a ``/dev/input/eventN``);
``UHID_INPUT2`` delivers an input report; ``UHID_DESTROY`` unplugs it. So
:class:`edge.devices.hid_scanner.HidScanner` and ``EvdevScanner`` run
against it unchanged, as against hardware.

Two personalities, from :mod:`protocol.devices.hid`: a boot keyboard that
types each barcode and Enter, and a HID POS scanner (usage page 0x8C) that
sends Scanned Data Reports. Needs ``/dev/uhid`` (module ``uhid``) and the
right to open it (root, or a udev rule).

The kernel also writes to us: UHID_START/OPEN/CLOSE (someone opened the
hidraw or input node), UHID_OUTPUT (keyboard LEDs), and GET/SET_REPORT
requests, which must be answered or the caller waits seconds for a timeout;
we answer GET_REPORT with EIO (we have no feature reports) and SET_REPORT
with success.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from typing import Annotated, Final, Literal

import typer

from protocol.devices import hid
from protocol.errors import RemoteProtocolError

UHID_PATH: Final = "/dev/uhid"
#: pid.codes test VID/PID (https://pid.codes/1209/0001/), free for testing.
VENDOR_ID: Final = 0x1209
PRODUCT_ID: Final = 0x0001
Mode = Literal["keyboard", "pos"]


def uhid_unusable(path: str = UHID_PATH) -> str | None:
    """Why UHID cannot be used here, or None when it can."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        return f"cannot open {path}: {err.strerror} (errno {err.errno})"
    os.close(fd)
    return None


class UhidScanner:
    """One virtual scanner. ``await start()``, ``await scan("...")``, ``await stop()``.

    ``fd``: an already open channel to write events to instead of opening
    ``uhid_path`` (a SOCK_SEQPACKET socket in tests keeps one event per
    message, as /dev/uhid does).
    """

    def __init__(
        self,
        mode: Mode = "keyboard",
        *,
        name: str = "Guanjia virtual scanner",
        vendor_id: int = VENDOR_ID,
        product_id: int = PRODUCT_ID,
        uhid_path: str = UHID_PATH,
        fd: int | None = None,
        report_interval: float = 0.001,
    ) -> None:
        if mode not in ("keyboard", "pos"):
            raise ValueError(f"unknown scanner mode {mode!r}")
        self.mode: Mode = mode
        self.name = name
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.uhid_path = uhid_path
        self.report_interval = report_interval
        self._fd = fd
        self._own_fd = fd is None
        self.plugged = False
        self.opened = asyncio.Event()  # the kernel said UHID_OPEN: a reader is there
        self.kernel_events: list[hid.UhidEvent] = []
        self.leds = 0  # last keyboard LED output report (Num/Caps/Scroll lock)

    @property
    def descriptor(self) -> bytes:
        if self.mode == "keyboard":
            return hid.KEYBOARD_REPORT_DESCRIPTOR
        return hid.POS_REPORT_DESCRIPTOR

    async def start(self) -> None:
        if self._fd is None:
            self._fd = os.open(self.uhid_path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
        else:
            os.set_blocking(self._fd, False)
        asyncio.get_running_loop().add_reader(self._fd, self._on_kernel_event)
        self.plug()

    async def stop(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.unplug()
        asyncio.get_running_loop().remove_reader(self._fd)
        if self._own_fd:
            os.close(self._fd)
        self._fd = None

    def plug(self) -> None:
        """Create the device (UHID_CREATE2): as if plugged in."""
        self._write(
            hid.encode_uhid_create2(
                self.name, self.descriptor, vendor=self.vendor_id, product=self.product_id
            )
        )
        self.plugged = True

    def unplug(self) -> None:
        """Destroy the device (UHID_DESTROY): readers get ENODEV, as on a real unplug."""
        if self.plugged:
            self.plugged = False
            self.opened.clear()
            self._write(hid.encode_uhid_destroy())

    async def scan(self, text: str, *, symbology: str = "]C0", terminator: str = "enter") -> None:
        """Send one barcode: typed (keyboard) or as Scanned Data Reports (HID POS)."""
        if self.mode == "keyboard":
            reports = hid.encode_keyboard(text, terminator)
        else:
            reports = hid.encode_pos(text.encode("utf-8"), symbology)
        await self.send_reports(reports)

    async def send_reports(self, reports: list[bytes]) -> None:
        """Send raw input reports (scripted garbage included)."""
        for report in reports:
            self._write(hid.encode_uhid_input2(report))
            # Real scanners pace their reports at the USB polling interval.
            await asyncio.sleep(self.report_interval)

    def _write(self, event: bytes) -> None:
        if self._fd is None:
            raise RuntimeError("simulator not started")
        os.write(self._fd, event)

    def _on_kernel_event(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, hid.UHID_EVENT_SIZE)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno != errno.EAGAIN:
                raise
            return
        if not data:
            return
        try:
            event = hid.decode_uhid_event(data)
        except RemoteProtocolError:
            return  # a newer kernel's event type we do not know: nothing to answer
        self.kernel_events.append(event)
        if event.type == hid.UHID_OPEN:
            self.opened.set()
        elif event.type == hid.UHID_CLOSE:
            self.opened.clear()
        elif event.type == hid.UHID_OUTPUT and event.data:
            self.leds = event.data[-1]
        elif event.type == hid.UHID_GET_REPORT:
            self._write(hid.encode_uhid_get_report_reply(event.id, errno.EIO))
        elif event.type == hid.UHID_SET_REPORT:
            self._write(hid.encode_uhid_set_report_reply(event.id, 0))


async def _run(
    mode: Mode, barcodes: list[str], uhid_path: str, interval: float, wait_open: float, hold: float
) -> int:
    sim = UhidScanner(mode, uhid_path=uhid_path)
    await sim.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sim.opened.wait(), wait_open)
        for code in barcodes:
            await sim.scan(code)
            await asyncio.sleep(interval)
        await asyncio.sleep(hold)
    finally:
        await sim.stop()
    return len(barcodes)


def command(
    barcodes: Annotated[list[str], typer.Argument(help="Barcodes to scan.")],
    mode: Annotated[
        str, typer.Option(help="keyboard (types the code and Enter) or pos (HID POS reports).")
    ] = "keyboard",
    uhid_path: Annotated[str, typer.Option(help="The UHID character device.")] = UHID_PATH,
    interval: Annotated[float, typer.Option(help="Seconds between scans.")] = 0.3,
    wait_open: Annotated[
        float, typer.Option(help="Seconds to wait for a driver to open the device first.")
    ] = 5.0,
    hold: Annotated[
        float, typer.Option(help="Seconds to keep the device after the last scan.")
    ] = 1.0,
) -> None:
    """Plug in a virtual USB barcode scanner (Linux UHID) and scan barcodes with it."""
    modes: dict[str, Mode] = {"keyboard": "keyboard", "pos": "pos"}  # str -> the Literal
    if mode not in modes:
        raise typer.BadParameter("mode is keyboard or pos")
    problem = uhid_unusable(uhid_path)
    if problem is not None:
        typer.echo(f"UHID unavailable: {problem} (modprobe uhid; run as root)", err=True)
        raise typer.Exit(1)
    count = asyncio.run(_run(modes[mode], barcodes, uhid_path, interval, wait_open, hold))
    typer.echo(f"scanned {count} barcode(s) as a virtual {mode} scanner")
