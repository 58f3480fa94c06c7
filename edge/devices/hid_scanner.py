"""USB barcode scanners read as HID devices (hidraw via hidapi) or as keyboards (evdev).

Two drivers, one shape. Each owns one scanner, decodes what it sends with
the sans-I/O codecs in :mod:`protocol.devices.hid`, and hands every scan to
``on_scan`` as an :class:`edge.devices.scanner.ScanInput`, exactly like
:class:`edge.devices.scanner.LineScanner`:

* :class:`HidScanner` reads raw input reports through hidapi's ``hidraw``
  backend (PyPI ``hidapi``; module ``hidraw``, falling back to ``hid``). It
  understands HID POS scanners (usage page 0x8C) and keyboard-wedge scanners
  (boot keyboard reports). Reading hidraw does not take the keystrokes away
  from the console, so prefer HID POS mode on the scanner where it has one.
* :class:`EvdevScanner` reads ``/dev/input/eventN`` (struct input_event,
  EV_KEY) with the standard library only, and grabs the device (EVIOCGRAB) so
  the barcode is not also typed into whatever has focus.

Bad input (a broken report, a scan with no terminator within 10 KB) reaches
the station as ``ScanInput(None, error)``; control characters inside a scan
are passed through, for the station to judge. A scanner that is unplugged
marks ``health`` down (logged once), the driver retries with capped jittered
backoff and marks it up again (logged once) when it is plugged back in. No
exception escapes :meth:`run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import importlib
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, Protocol

from edge.devices.base import AvailabilityLog, DeviceError, DeviceHealth, reconnect_backoff
from edge.devices.scanner import ScanInput
from protocol.backoff import Backoff
from protocol.devices import hid
from protocol.errors import NeedData, RemoteProtocolError

log = logging.getLogger("guanjia.edge.hid_scanner")

OnScan = Callable[[ScanInput], Awaitable[None]]
HidKind = Literal["auto", "keyboard", "pos"]

#: _IOW('E', 0x90, int): exclusive access to an input device (linux/input.h).
EVIOCGRAB: Final = 0x40044590
_READ_SIZE: Final = 4096
_HID_USAGE_PAGE_POS: Final = 0x8C


class _Decoder(Protocol):
    def feed(self, data: bytes) -> None: ...

    def next_message(self) -> hid.Scan | NeedData: ...


class _ScannerDriver:
    """The run loop both drivers share: open, read, decode, deliver, recover."""

    def __init__(
        self, name: str, on_scan: OnScan, backoff: Backoff | None, logger: logging.Logger | None
    ) -> None:
        self.name = name
        self._on_scan = on_scan
        self.health = DeviceHealth(name=name, kind="scanner")
        self._log = logger or log
        self._availability = AvailabilityLog(self.health, self._log)
        self._backoff = backoff or reconnect_backoff(base=0.2, cap=5.0)
        self._task: asyncio.Task[None] | None = None
        self.aim_prefix = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Run the read loop in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"scanner {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Read scans until cancelled; device faults only change ``health``."""
        while True:
            try:
                decoder = await self._open()
            except DeviceError as err:
                self._availability.failed(err.reason)
                await asyncio.sleep(self._backoff.next_delay())
                continue
            self._availability.recovered()
            self._backoff.reset()
            try:
                while True:
                    await self._deliver(decoder, await self._read())
            except DeviceError as err:
                self._availability.failed(err.reason)
            finally:
                await self._close()
            await asyncio.sleep(self._backoff.next_delay())

    # --- per transport -----------------------------------------------------------------

    async def _open(self) -> _Decoder:
        raise NotImplementedError

    async def _read(self) -> bytes:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------

    async def _deliver(self, decoder: _Decoder, data: bytes) -> None:
        if not data:
            return
        self.health.last_reading_at = time.time()  # wall time, like every driver's
        decoder.feed(data)
        while True:
            try:
                message = decoder.next_message()
            except RemoteProtocolError as err:
                self.health.errors += 1
                self.health.last_error = str(err)
                self._log.warning("scanner %s: %s", self.name, err)
                await self._emit(ScanInput(None, str(err)))
                continue
            if isinstance(message, NeedData):
                return
            text = message.text
            if self.aim_prefix and message.symbology:
                text = message.symbology + text
            await self._emit(ScanInput(text))

    async def _emit(self, scan: ScanInput) -> None:
        try:
            await self._on_scan(scan)
        except Exception:  # the station's bug must not stop the scanner
            self._log.exception("scanner %s: on_scan failed", self.name)


# --- hidraw through hidapi -------------------------------------------------------------


class HidDevice(Protocol):
    """The part of hidapi's ``device`` the driver uses."""

    def read(self, max_length: int, timeout_ms: int = 0) -> list[int]: ...

    def close(self) -> None: ...


def _hidapi() -> Any:
    try:
        # hidapi built on the Linux hidraw backend (reads /dev/hidrawN).
        return importlib.import_module("hidraw")
    except ImportError:
        return importlib.import_module("hid")  # other platforms: libusb/IOKit backends


def _kind_of(info: dict[str, Any]) -> HidKind:
    page = info.get("usage_page")
    if page == _HID_USAGE_PAGE_POS:
        return "pos"
    if page == 0x01 and info.get("usage") == 0x06:
        return "keyboard"
    return "auto"


def open_hidapi(
    path: bytes | None, vendor_id: int | None, product_id: int | None
) -> tuple[HidDevice, HidKind]:
    """Open a scanner with hidapi; also says its kind when the descriptor tells.

    By vendor/product, a scanner with several interfaces is opened on its HID
    POS interface first, then its keyboard one.
    """
    module = _hidapi()
    infos = [
        info
        for info in module.enumerate(vendor_id or 0, product_id or 0)
        if path is None or info.get("path") == path
    ]
    rank = {"pos": 0, "keyboard": 1, "auto": 2}
    infos.sort(key=lambda info: rank[_kind_of(info)])
    if infos:
        path, kind = infos[0]["path"], _kind_of(infos[0])
    elif path is not None:
        kind = "auto"  # not enumerated (permissions?): try the path anyway
    else:
        raise OSError(errno.ENODEV, f"no HID device {vendor_id or 0:04x}:{product_id or 0:04x}")
    device = module.device()
    device.open_path(path)
    return device, kind


Opener = Callable[[bytes | None, int | None, int | None], tuple[HidDevice, HidKind]]


class _AutoDecoder:
    """Picks the report format from the first report: 8 bytes is a boot keyboard."""

    def __init__(self, report_id: int | None) -> None:
        self.report_id = report_id
        self._inner: _Decoder | None = None

    def feed(self, data: bytes) -> None:
        if self._inner is None:
            keyboard_len = hid.KeyboardReportDecoder.REPORT_LEN + (self.report_id is not None)
            if len(data) == keyboard_len:
                self._inner = hid.KeyboardReportDecoder(self.report_id)
            else:
                self._inner = hid.PosReportDecoder(self.report_id or hid.POS_REPORT_ID)
        self._inner.feed(data)

    def next_message(self) -> hid.Scan | NeedData:
        assert self._inner is not None
        return self._inner.next_message()


class HidScanner(_ScannerDriver):
    """A USB HID scanner read through hidraw (hidapi).

    Point it at ``path`` (``b"/dev/hidraw3"``) or at ``vendor_id``/``product_id``.
    ``kind`` "auto" takes the HID usage page from the report descriptor, or
    else the first report's length. ``aim_prefix`` puts a HID POS scanner's
    AIM symbology identifier ("]C1") in front of the text, for GS1 parsing.
    """

    def __init__(
        self,
        on_scan: OnScan,
        *,
        path: bytes | str | None = None,
        vendor_id: int | None = None,
        product_id: int | None = None,
        kind: HidKind = "auto",
        report_id: int | None = None,
        aim_prefix: bool = False,
        name: str = "hid-scanner",
        read_timeout: float = 0.2,
        opener: Opener = open_hidapi,
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(name, on_scan, backoff, logger)
        self.path = path.encode() if isinstance(path, str) else path
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.kind: HidKind = kind
        self.report_id = report_id
        self.aim_prefix = aim_prefix
        self._timeout_ms = max(1, int(read_timeout * 1000))
        self._opener = opener
        self._device: HidDevice | None = None
        self._pending: asyncio.Future[list[int]] | None = None

    async def _open(self) -> _Decoder:
        try:
            device, found = await asyncio.to_thread(
                self._opener, self.path, self.vendor_id, self.product_id
            )
        except (OSError, ValueError) as err:
            raise DeviceError(self.name, f"cannot open HID device: {err}") from err
        self._device = device
        kind = self.kind if self.kind != "auto" else found
        self.health.extra["hid_kind"] = kind
        if kind == "keyboard":
            return hid.KeyboardReportDecoder(self.report_id)
        if kind == "pos":
            return hid.PosReportDecoder(self.report_id or hid.POS_REPORT_ID)
        return _AutoDecoder(self.report_id)

    async def _read(self) -> bytes:
        assert self._device is not None
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self._device.read, _READ_SIZE, self._timeout_ms)
        self._pending = fut
        try:
            data = await asyncio.shield(fut)
        except (OSError, ValueError) as err:
            raise DeviceError(self.name, f"HID read failed (unplugged?): {err}") from err
        finally:
            self._pending = None if fut.done() else fut
        return bytes(data)

    async def _close(self) -> None:
        device, self._device = self._device, None
        pending, self._pending = self._pending, None
        if pending is not None:
            # Cancelled mid-read: the C call still runs in its thread and must
            # return (within read_timeout) before the handle is freed.
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        if device is not None:
            with contextlib.suppress(OSError, ValueError):
                device.close()


# --- evdev keyboard wedge --------------------------------------------------------------


class EvdevScanner(_ScannerDriver):
    """A keyboard-wedge scanner read from ``/dev/input/eventN`` (or a by-id link).

    ``grab`` takes the device exclusively (EVIOCGRAB) so its keystrokes reach
    only us. ``long_size`` is the C long of the kernel ABI: 8 on 64-bit, 4 on
    32-bit userspace.
    """

    def __init__(
        self,
        path: str,
        on_scan: OnScan,
        *,
        grab: bool = True,
        name: str = "evdev-scanner",
        long_size: int = struct.calcsize("l"),
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(name, on_scan, backoff, logger)
        self.path = path
        self.grab = grab
        self.long_size = long_size
        self._fd: int | None = None

    async def _open(self) -> _Decoder:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            raise DeviceError(self.name, f"cannot open {self.path}: {err.strerror}") from err
        if self.grab:
            try:
                fcntl.ioctl(fd, EVIOCGRAB, 1)
            except OSError as err:
                # ENOTTY: not an input device (a test FIFO); EBUSY: grabbed by
                # someone else, we still read but the console sees keys too.
                level = logging.DEBUG if err.errno == errno.ENOTTY else logging.WARNING
                self._log.log(level, "scanner %s: EVIOCGRAB failed: %s", self.name, err)
        self._fd = fd
        return hid.InputEventDecoder(self.long_size)

    async def _read(self) -> bytes:
        assert self._fd is not None
        fd = self._fd
        while True:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                await self._readable(fd)
                continue
            except OSError as err:
                # ENODEV is what a read of an unplugged input device returns.
                raise DeviceError(self.name, f"read {self.path}: {err.strerror}") from err
            if not data:
                raise DeviceError(self.name, f"{self.path} closed (unplugged?)")
            return data

    @staticmethod
    async def _readable(fd: int) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    async def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
