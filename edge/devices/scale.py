"""Parcel scale on a serial line: MT-SICS (polled) or Toledo continuous (streamed).

One :class:`Scale` owns the port. pyserial opens and configures it; reads
are non-blocking through ``loop.add_reader`` on its file descriptor, so no
thread is involved. Bytes go through the sans-I/O codecs in
:mod:`protocol.devices`.

Only stable weights leave :meth:`Scale.stable_weight`:

* MT-SICS: the driver polls ``SI`` every ``poll_interval``; the balance's own
  stability criterion marks a reply ``S S`` (stable) or ``S D`` (dynamic),
  MT-SICS reference manual §3 "SI". Polling SI rather than sending ``S``
  keeps a reply flowing while the load moves, so a dead line is noticed
  within ``reply_timeout`` even while someone is still placing a parcel.
* Toledo: the terminal streams frames; a weight counts as stable once
  ``stable_frames`` consecutive frames have the motion bit (status B bit 3)
  clear and the same weight.

A scale that stops answering (no reply to a poll within ``reply_timeout``;
no valid frame for ``silence_timeout``) is marked down, the port is closed
and reopened with capped jittered backoff, and the first valid reply marks
it up again. Garbage on the line is counted and skipped; it never ends the
read loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

import serial

from edge.devices.base import AvailabilityLog, DeviceError, DeviceHealth, reconnect_backoff
from protocol.backoff import Backoff
from protocol.devices import mtsics, toledo
from protocol.errors import NeedData, RemoteProtocolError

ScaleProtocol = Literal["mt-sics", "toledo"]

_GRAMS_PER: Final = {
    "mg": Decimal("0.001"),
    "g": Decimal(1),
    "kg": Decimal(1000),
    "t": Decimal(1000000),
    "ct": Decimal("0.2"),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
    "ozt": Decimal("31.1034768"),
    "dwt": Decimal("1.55517384"),
}


@dataclass(frozen=True)
class Weight:
    """One weight reading. ``received_at`` is event-loop (monotonic) time."""

    value: Decimal
    unit: str
    stable: bool
    received_at: float
    tare: Decimal | None = None
    net: bool | None = None

    @property
    def grams(self) -> Decimal | None:
        factor = _GRAMS_PER.get(self.unit)
        return None if factor is None else self.value * factor

    def __str__(self) -> str:
        return f"{self.value} {self.unit}{'' if self.stable else ' (in motion)'}"


@dataclass(frozen=True)
class OutOfRange:
    """The scale reports overload (``over``) or underload instead of a weight."""

    over: bool
    received_at: float

    @property
    def reason(self) -> str:
        if self.over:
            return "overload: the load is above the scale's capacity"
        return "underload: the reading is below the scale's range (platform lifted?)"


Reading = Weight | OutOfRange


@dataclass(frozen=True)
class _Down:
    reason: str


_Event = Reading | _Down


class _NoReply(DeviceError):
    """A command went unanswered; the poller decides whether the scale is down."""


_SI: Final = mtsics.Command(mtsics.CommandName.SEND_IMMEDIATELY)


class Scale:
    """The owner of one serial scale; ``async with Scale(port) as scale: ...``."""

    def __init__(
        self,
        port: str,
        *,
        protocol: ScaleProtocol = "mt-sics",
        name: str = "scale",
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        poll_interval: float = 0.05,
        reply_timeout: float = 0.3,
        command_timeout: float = 5.0,
        silence_timeout: float = 1.0,
        stable_frames: int = 3,
        toledo_checksum: bool = True,
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if protocol not in ("mt-sics", "toledo"):
            raise ValueError(f"unknown scale protocol {protocol!r}")
        self.port = port
        self.protocol: ScaleProtocol = protocol
        self.name = name
        self._serial_settings = {
            "baudrate": baudrate,
            "bytesize": bytesize,
            "parity": parity,
            "stopbits": stopbits,
        }
        self.poll_interval = poll_interval
        self.reply_timeout = reply_timeout
        self.command_timeout = command_timeout
        self.silence_timeout = silence_timeout
        self.stable_frames = stable_frames
        self.toledo_checksum = toledo_checksum
        self.health = DeviceHealth(name=name, kind="scale")
        self.health.extra.update(
            {"port": port, "protocol": protocol, "protocol_errors": 0, "last_protocol_error": None}
        )
        self._log = logger or logging.getLogger(__name__)
        self._avail = AvailabilityLog(self.health, self._log)
        self._backoff = backoff or reconnect_backoff(base=0.1, cap=5.0)
        #: The most recent reading, stable or not.
        self.latest: Reading | None = None
        self._ser: serial.Serial | None = None
        self._decoder: mtsics.ReplyDecoder | toledo.ToledoDecoder | None = None
        self._failure: DeviceError | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[mtsics.Reply]] | None = None
        self._subscribers: set[asyncio.Queue[_Event]] = set()
        self._task: asyncio.Task[None] | None = None
        self._run_of_stable: tuple[int, tuple[object, ...]] = (0, ())

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"scale {self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()
        self.health.connected = False

    async def __aenter__(self) -> Scale:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- public API ------------------------------------------------------

    async def stable_weight(self, timeout: float = 5.0) -> Weight:
        """The next stable weight read after this call.

        Raises DeviceError on overload/underload, when the scale goes down
        during the wait, or when ``timeout`` passes (saying why: no answer,
        or still in motion).
        """
        queue = self._subscribe()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await queue.get()
                    if isinstance(event, _Down):
                        raise DeviceError(self.name, f"scale stopped answering: {event.reason}")
                    if isinstance(event, OutOfRange):
                        raise DeviceError(self.name, event.reason)
                    if event.stable:
                        return event
        except TimeoutError as err:
            if not self.health.connected:
                why = f"scale not answering ({self.health.last_error or 'no reply yet'})"
            elif isinstance(self.latest, Weight):
                why = f"weight not stable within {timeout} s (last: {self.latest})"
            else:
                why = f"no stable weight within {timeout} s"
            raise DeviceError(self.name, why) from err
        finally:
            self._subscribers.discard(queue)

    async def readings(self) -> AsyncIterator[Reading]:
        """Every reading (stable or not, and out-of-range reports) as it arrives."""
        queue = self._subscribe()
        try:
            while True:
                event = await queue.get()
                if not isinstance(event, _Down):
                    yield event
        finally:
            self._subscribers.discard(queue)

    async def zero(self) -> None:
        """MT-SICS ``Z``: zero the scale (waits for stability on the balance's side)."""
        reply = await self._command(mtsics.CommandName.ZERO)
        if not (isinstance(reply, mtsics.StatusReply) and reply.status is mtsics.Status.DONE):
            raise DeviceError(self.name, f"zero not performed: {_describe(reply)}")

    async def tare(self) -> Weight:
        """MT-SICS ``T``: tare with the current load; returns the stored tare."""
        reply = await self._command(mtsics.CommandName.TARE)
        if not isinstance(reply, mtsics.WeightReply):
            raise DeviceError(self.name, f"tare not performed: {_describe(reply)}")
        loop = asyncio.get_running_loop()
        return Weight(reply.value, reply.unit, True, loop.time())

    # ---- readings fan-out ------------------------------------------------

    def _subscribe(self) -> asyncio.Queue[_Event]:
        queue: asyncio.Queue[_Event] = asyncio.Queue(maxsize=256)
        self._subscribers.add(queue)
        return queue

    def _publish(self, event: _Event) -> None:
        if not isinstance(event, _Down):
            self.latest = event
            self.health.last_reading_at = time.time()
        for queue in self._subscribers:
            if queue.full():  # a slow consumer loses the oldest, never blocks us
                queue.get_nowait()
            queue.put_nowait(event)

    def _alive(self) -> None:
        if not self.health.connected:
            self._avail.recovered()
        self._backoff.reset()

    def _down(self, reason: str) -> None:
        was_up = self.health.connected
        self._avail.failed(reason)
        if was_up:
            self._publish(_Down(reason))

    # ---- connection loop -------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._open()
                if self.protocol == "mt-sics":
                    await self._poll_mtsics()
                else:
                    await self._watch_toledo()
            except DeviceError as err:
                self._down(err.reason)
            except Exception as err:  # the read loop must survive anything
                self._log.exception("scale %s: unexpected error", self.name)
                self._down(f"unexpected {type(err).__name__}: {err}")
            finally:
                self._close()
            await asyncio.sleep(self._backoff.next_delay())

    async def _open(self) -> None:
        try:
            # Opening a USB adapter can block for a while; keep it off the loop.
            ser = await asyncio.to_thread(
                serial.Serial,
                self.port,
                timeout=0,
                write_timeout=0,
                exclusive=True,
                **self._serial_settings,
            )
        except (serial.SerialException, OSError, ValueError) as err:
            raise DeviceError(self.name, f"cannot open {self.port}: {err}") from err
        self._ser = ser
        self._failure = None
        self._wake.clear()
        try:
            # Drop what queued up while nobody listened (a stale Toledo stream).
            ser.reset_input_buffer()
        except (serial.SerialException, OSError) as err:
            self._close()
            raise DeviceError(self.name, f"cannot flush {self.port}: {err}") from err
        self._decoder = (
            mtsics.ReplyDecoder()
            if self.protocol == "mt-sics"
            else toledo.ToledoDecoder(self.toledo_checksum)
        )
        self._run_of_stable = (0, ())
        asyncio.get_running_loop().add_reader(ser.fileno(), self._on_readable)

    def _close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(ser.fileno())
        with contextlib.suppress(Exception):
            ser.close()
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None

    def _fail_io(self, err: Exception) -> None:
        self._failure = DeviceError(self.name, f"serial port {self.port} failed: {err}")
        if self._ser is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._ser.fileno())
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(self._failure)
        self._wake.set()

    def _on_readable(self) -> None:
        ser, decoder = self._ser, self._decoder
        if ser is None or decoder is None:
            return
        try:
            data = ser.read(max(1, ser.in_waiting))
        except (serial.SerialException, OSError) as err:
            self._fail_io(err)
            return
        decoder.feed(data)
        while True:
            try:
                message = decoder.next_message()
            except RemoteProtocolError as err:
                self._protocol_error(err)
                continue
            if isinstance(message, NeedData):
                return
            if isinstance(message, toledo.ToledoFrame):
                self._on_frame(message)
            else:
                self._on_reply(message)

    def _protocol_error(self, err: RemoteProtocolError) -> None:
        count = self.health.extra.get("protocol_errors", 0)
        self.health.extra["protocol_errors"] = (count if isinstance(count, int) else 0) + 1
        self.health.extra["last_protocol_error"] = str(err)
        self._log.debug("scale %s: skipped bad bytes: %s", self.name, err)

    def _write(self, data: bytes) -> None:
        if self._ser is None:
            raise DeviceError(self.name, "port not open")
        try:
            written = os.write(self._ser.fileno(), data)
        except BlockingIOError as err:
            raise DeviceError(self.name, "output buffer full: nobody reads the line") from err
        except OSError as err:
            raise DeviceError(self.name, f"write to {self.port} failed: {err}") from err
        if written != len(data):
            raise DeviceError(self.name, f"short write ({written} of {len(data)} bytes)")

    # ---- MT-SICS ---------------------------------------------------------

    async def _poll_mtsics(self) -> None:
        loop = asyncio.get_running_loop()
        last_answer = loop.time()
        while True:
            try:
                reply = await self._transact(_SI, self.reply_timeout)
            except _NoReply as err:
                # A half-received line would spoil the next reply: start clean.
                self._decoder = mtsics.ReplyDecoder()
                # One lost reply (eaten by line noise) is not a dead scale;
                # silence for silence_timeout is.
                if loop.time() - last_answer >= self.silence_timeout:
                    raise DeviceError(
                        self.name, f"{err.reason}; no answer for {self.silence_timeout} s"
                    ) from err
                continue
            now = last_answer = loop.time()
            if isinstance(reply, mtsics.WeightReply):
                self._publish(Weight(reply.value, reply.unit, reply.stable, now))
            elif isinstance(reply, mtsics.StatusReply) and reply.status in (
                mtsics.Status.OVER,
                mtsics.Status.UNDER,
            ):
                self._publish(OutOfRange(reply.status is mtsics.Status.OVER, now))
            elif isinstance(reply, mtsics.ErrorReply):
                self.health.extra["last_error_reply"] = reply.code.value
            # "S I" (busy, e.g. taring): no reading this round.
            await asyncio.sleep(self.poll_interval)

    async def _command(self, name: mtsics.CommandName) -> mtsics.Reply:
        if self.protocol != "mt-sics":
            raise DeviceError(self.name, f"{name.value} needs an MT-SICS scale")
        if self._ser is None:
            raise DeviceError(self.name, "scale not connected")
        return await self._transact(mtsics.Command(name), self.command_timeout)

    async def _transact(self, command: mtsics.Command, timeout: float) -> mtsics.Reply:
        """Send one command and wait for its reply; one command in flight at a time."""
        async with self._lock:
            if self._failure is not None:
                raise self._failure
            future: asyncio.Future[mtsics.Reply] = asyncio.get_running_loop().create_future()
            # §3: S/SI answer with ID "S", Z with "Z", T with "T", "@" with "I4".
            ident = {"SI": "S", "SIR": "S", "@": "I4"}.get(command.name.value, command.name.value)
            self._pending = (ident, future)
            try:
                self._write(mtsics.encode_command(command))
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancel that races with completion, and stop() would hang.
                async with asyncio.timeout(timeout):
                    reply = await future
            except TimeoutError as err:
                raise _NoReply(
                    self.name, f"no reply to {command.name.value} within {timeout} s"
                ) from err
            finally:
                self._pending = None
            self._alive()
            return reply

    def _on_reply(self, reply: mtsics.Reply) -> None:
        pending = self._pending
        if pending is None or pending[1].done():
            return  # a late reply to a command we gave up on
        ident, future = pending
        got = "I4" if isinstance(reply, mtsics.SerialNumberReply) else getattr(reply, "ident", None)
        if got is None or got == ident:  # errors (ES/ET/EL) carry no ID
            future.set_result(reply)
        else:
            self._protocol_error(
                RemoteProtocolError(f"reply {_describe(reply)} does not answer {ident}")
            )

    # ---- Toledo continuous -----------------------------------------------

    async def _watch_toledo(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.silence_timeout):
                    await self._wake.wait()
            except TimeoutError as err:
                raise DeviceError(
                    self.name, f"no valid frame for {self.silence_timeout} s"
                ) from err
            if self._failure is not None:
                raise self._failure
            self._wake.clear()

    def _on_frame(self, frame: toledo.ToledoFrame) -> None:
        now = asyncio.get_running_loop().time()
        self._alive()
        self._wake.set()
        if frame.out_of_range:
            self._run_of_stable = (0, ())
            self._publish(OutOfRange(frame.weight >= 0, now))
            return
        key = (frame.weight, frame.unit, frame.net, frame.tare)
        count, last = self._run_of_stable
        count = count + 1 if not frame.motion and key == last else (0 if frame.motion else 1)
        self._run_of_stable = (count, key)
        stable = count >= self.stable_frames
        self._publish(Weight(frame.weight, frame.unit, stable, now, frame.tare, frame.net))


def _describe(reply: mtsics.Reply) -> str:
    return mtsics.encode_reply(reply).decode("ascii").strip()
