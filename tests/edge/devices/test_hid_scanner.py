"""HID and evdev scanner drivers against the UHID simulator and real input_event bytes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import struct
import threading
from collections import deque
from pathlib import Path

import pytest

from edge.devices.base import reconnect_backoff
from edge.devices.hid_scanner import EvdevScanner, HidKind, HidScanner
from edge.devices.scanner import ScanInput
from protocol.backoff import Backoff
from protocol.devices import hid
from simulators.devices.hid_scanner import PRODUCT_ID, VENDOR_ID, UhidScanner, uhid_unusable
from tests.support import until

pytestmark = pytest.mark.timeout(60)
GS = "\x1d"


def _fast() -> Backoff:
    return reconnect_backoff(base=0.01, cap=0.05)


class _Scans:
    def __init__(self) -> None:
        self.items: list[ScanInput] = []

    async def __call__(self, scan: ScanInput) -> None:
        self.items.append(scan)

    async def next(self, count: int) -> list[ScanInput]:
        await until(lambda: len(self.items) >= count)
        return self.items[:count]


# --- evdev: /dev/input/eventN stand-in is a FIFO fed with struct input_event bytes ---


async def _write_all(fd: int, data: bytes) -> None:
    def write() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    await asyncio.to_thread(write)


def test_evdev_scanner_reads_unplugs_and_recovers(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "event7"
        os.mkfifo(path)
        writer = os.open(path, os.O_RDWR)  # holds the FIFO open, as a plugged device
        scans = _Scans()
        driver = EvdevScanner(str(path), scans, backoff=_fast())
        driver.start()
        try:
            await until(lambda: driver.health.connected)
            await _write_all(writer, hid.encode_input_events("5901234123457"))
            gs1 = "]C1010590123412345710AB" + GS + "17250630"
            await _write_all(writer, hid.encode_input_events(gs1, "tab"))
            assert await scans.next(2) == [ScanInput("5901234123457"), ScanInput(gs1)]

            # Control characters reach the station untouched (it judges them).
            await _write_all(writer, hid.encode_input_events("A\x07B"))
            assert (await scans.next(3))[2] == ScanInput("A\x07B")

            # A key with no character poisons its scan; the driver keeps going.
            f1 = struct.pack("@llHHi", 0, 0, hid.EV_KEY, 59, 1)
            await _write_all(writer, hid.encode_input_events("X", "")[:48] + f1)
            await _write_all(
                writer, hid.encode_input_events("rest") + hid.encode_input_events("OK1")
            )
            got = await scans.next(5)
            assert got[3].text is None and "key code 59 types no character" in (got[3].error or "")
            assert got[4] == ScanInput("OK1")

            # 10 KB without a terminator: discarded with a clear error, once.
            await _write_all(writer, hid.encode_input_events("7" * 10_300, ""))
            await _write_all(writer, hid.encode_input_events("", "enter"))
            await _write_all(writer, hid.encode_input_events("after"))
            got = await scans.next(7)
            assert got[5] == ScanInput(
                None,
                "no scan terminator within 10240 characters; "
                "discarding input up to the next terminator",
            )
            assert got[6] == ScanInput("after")
            assert driver.health.connected and driver.health.errors == 2

            # Unplug: the node disappears and reads hit EOF -> health down.
            os.close(writer)
            path.unlink()
            errors = driver.health.errors
            await until(lambda: not driver.health.connected)
            await until(lambda: driver.health.errors >= errors + 2)  # EOF, then failed reopens
            assert "cannot open" in (driver.health.last_error or "")
            await asyncio.sleep(0.1)  # a few failed reopen attempts
            assert not driver.health.connected

            # Replug: recovers on its own and reads again.
            os.mkfifo(path)
            writer = os.open(path, os.O_RDWR)
            await until(lambda: driver.health.connected)
            await _write_all(writer, hid.encode_input_events("back"))
            assert (await scans.next(8))[7] == ScanInput("back")
        finally:
            await driver.stop()
            with contextlib.suppress(OSError):
                os.close(writer)

    asyncio.run(main())


def test_evdev_on_scan_failure_does_not_stop_the_driver(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "event1"
        os.mkfifo(path)
        writer = os.open(path, os.O_RDWR)
        seen: list[ScanInput] = []

        async def flaky(scan: ScanInput) -> None:
            seen.append(scan)
            if len(seen) == 1:
                raise RuntimeError("station bug")

        driver = EvdevScanner(str(path), flaky, backoff=_fast())
        driver.start()
        try:
            await _write_all(
                writer, hid.encode_input_events("one") + hid.encode_input_events("two")
            )
            await until(lambda: len(seen) == 2)
            assert [s.text for s in seen] == ["one", "two"] and driver.health.connected
        finally:
            await driver.stop()
            os.close(writer)

    asyncio.run(main())


def test_evdev_missing_device_is_down_not_an_exception(tmp_path: Path) -> None:
    async def main() -> None:
        driver = EvdevScanner(str(tmp_path / "absent"), _Scans(), backoff=_fast())
        driver.start()
        await until(lambda: driver.health.errors >= 2)
        assert not driver.health.connected
        assert "cannot open" in (driver.health.last_error or "")
        await driver.stop()

    asyncio.run(main())


# --- hidraw: the simulator's UHID events through a stand-in for the kernel ------------


class _KernelStandIn:
    """Plays the kernel's hidraw part for tests on machines without /dev/uhid.

    It reads the simulator's real uhid_event records from a SOCK_SEQPACKET
    socket: UHID_CREATE2 makes the device openable, each UHID_INPUT2 report is
    what one hidraw read returns, UHID_DESTROY makes reads and opens fail
    with ENODEV (hidapi raises OSError), as on a real unplug.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.generation = 0
        self.created = False
        self.descriptor = b""
        self.reports: deque[bytes] = deque()

    def pump(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(hid.UHID_EVENT_SIZE)
        except (TimeoutError, BlockingIOError):
            return
        event = hid.decode_uhid_event(data)
        if event.type == hid.UHID_CREATE2:
            self.generation += 1
            self.created = True
            self.descriptor = event.data
        elif event.type == hid.UHID_DESTROY:
            self.created = False
            self.reports.clear()
        elif event.type == hid.UHID_INPUT2 and self.created:
            self.reports.append(event.data)

    def open(
        self, path: bytes | None, vendor_id: int | None, product_id: int | None
    ) -> tuple[_StandInDevice, HidKind]:
        with self.lock:
            self.pump(0.01)
            if not self.created:
                raise OSError(errno.ENODEV, "No such device")
            kind: HidKind = "pos" if self.descriptor[:2] == b"\x05\x8c" else "keyboard"
            return _StandInDevice(self, self.generation), kind


class _StandInDevice:
    def __init__(self, kernel: _KernelStandIn, generation: int) -> None:
        self.kernel = kernel
        self.generation = generation

    def read(self, max_length: int, timeout_ms: int = 0) -> list[int]:
        kernel = self.kernel
        with kernel.lock:
            if not kernel.reports:
                kernel.pump(timeout_ms / 1000)
            if not kernel.created or kernel.generation != self.generation:
                raise OSError(errno.ENODEV, "read error")
            return list(kernel.reports.popleft()[:max_length]) if kernel.reports else []

    def close(self) -> None:
        pass


@pytest.mark.parametrize("mode", ["keyboard", "pos"])
def test_hid_scanner_with_simulator(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        ours, kernel_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        kernel = _KernelStandIn(kernel_side)
        sim = UhidScanner(mode, fd=ours.fileno())  # type: ignore[arg-type]
        await sim.start()
        scans = _Scans()
        driver = HidScanner(
            scans,
            vendor_id=VENDOR_ID,
            product_id=PRODUCT_ID,
            aim_prefix=True,
            read_timeout=0.02,
            opener=kernel.open,
            backoff=_fast(),
        )
        driver.start()
        try:
            await until(lambda: driver.health.connected)
            assert driver.health.extra["hid_kind"] == mode
            gs1 = "010590123412345710AB" + GS + "17250630"
            await sim.scan(gs1, symbology="]C1")
            expected = gs1 if mode == "keyboard" else "]C1" + gs1
            assert await scans.next(1) == [ScanInput(expected)]

            # Garbage from the device: a clear error, and the driver keeps reading.
            bad = bytes(7) if mode == "keyboard" else bytes([2, 60]) + bytes(62)
            await sim.send_reports([bad])
            if mode == "keyboard":
                # A broken keyboard report may have held the first character
                # of the next scan, so that scan is dropped, not sent short.
                await sim.scan("dropped")
            await sim.scan("5901234123457", symbology="]E0")
            got = await scans.next(3)
            assert got[1].text is None and got[1].error
            assert got[2].text in ("5901234123457", "]E05901234123457")

            # Unplug (UHID_DESTROY) -> down; plug back (UHID_CREATE2) -> up, reads again.
            sim.unplug()
            await until(lambda: not driver.health.connected)
            # The first failure is logged once; by the time we look, a retry may already have
            # replaced last_error with "cannot open HID device" (seen under load in CI).
            assert "HID read failed (unplugged?)" in caplog.text
            sim.plug()
            await until(lambda: driver.health.connected)
            await sim.scan("again")
            assert (await scans.next(4))[3].text in ("again", "]C0again")
        finally:
            await driver.stop()
            await sim.stop()
            ours.close()
            kernel_side.close()

    asyncio.run(main())


def test_simulator_answers_the_kernel() -> None:
    async def main() -> None:
        ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        kernel.settimeout(2)
        sim = UhidScanner("keyboard", fd=ours.fileno(), name="kbd")
        await sim.start()
        try:
            create = hid.decode_uhid_event(await asyncio.to_thread(kernel.recv, 8192))
            assert (create.type, create.name, create.vendor) == (hid.UHID_CREATE2, "kbd", VENDOR_ID)
            assert create.data == hid.KEYBOARD_REPORT_DESCRIPTOR

            def event(type_: int, body: bytes) -> bytes:
                return (struct.pack("<I", type_) + body).ljust(hid.UHID_EVENT_SIZE, b"\0")

            kernel.send(event(hid.UHID_OPEN, b""))
            out = b"\x02".ljust(hid.UHID_DATA_MAX, b"\0") + struct.pack("<HB", 1, 1)
            kernel.send(event(hid.UHID_OUTPUT, out))  # Caps Lock LED on
            kernel.send(event(hid.UHID_GET_REPORT, struct.pack("<IBB", 42, 0, 0)))
            reply = await asyncio.to_thread(kernel.recv, 8192)
            assert struct.unpack_from("<IIH", reply) == (hid.UHID_GET_REPORT_REPLY, 42, errno.EIO)
            await until(sim.opened.is_set)
            assert sim.leds == 0x02
        finally:
            await sim.stop()
            ours.close()
            kernel.close()

    asyncio.run(main())


# --- real kernel UHID: runs where /dev/uhid is usable ----------------------------------


def _event_node(name: str) -> str | None:
    for node in Path("/sys/class/input").glob("event*"):
        try:
            if (node / "device" / "name").read_text().strip() == name:
                return f"/dev/input/{node.name}"
        except OSError:
            continue
    return None


def test_real_uhid_device() -> None:
    reason = uhid_unusable()
    if reason is not None:
        pytest.skip(f"/dev/uhid is not usable here: {reason}")

    async def main() -> None:
        pos = UhidScanner("pos", name="Guanjia test POS scanner")
        kbd = UhidScanner("keyboard", name="Guanjia test keyboard scanner", product_id=0x0002)
        await pos.start()
        await kbd.start()
        pos_scans, kbd_scans = _Scans(), _Scans()
        hid_driver = HidScanner(
            pos_scans, vendor_id=VENDOR_ID, product_id=PRODUCT_ID, backoff=_fast()
        )
        hid_driver.start()
        await until(lambda: _event_node(kbd.name) is not None)
        evdev_driver = EvdevScanner(str(_event_node(kbd.name)), kbd_scans, backoff=_fast())
        evdev_driver.start()
        try:
            await until(lambda: hid_driver.health.connected and evdev_driver.health.connected)
            await asyncio.wait_for(pos.opened.wait(), 5)
            await pos.scan("]C1 not a prefix", symbology="]C1")
            await kbd.scan("5901234123457")
            assert (await pos_scans.next(1))[0] == ScanInput("]C1 not a prefix")
            assert (await kbd_scans.next(1))[0] == ScanInput("5901234123457")
            pos.unplug()
            await until(lambda: not hid_driver.health.connected)
            pos.plug()
            await until(lambda: hid_driver.health.connected, timeout=10)
        finally:
            await hid_driver.stop()
            await evdev_driver.stop()
            await pos.stop()
            await kbd.stop()

    asyncio.run(main())
