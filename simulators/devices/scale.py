"""A parcel scale on a pseudo-terminal, speaking MT-SICS or Toledo continuous.

The simulator owns the master side of a pty pair; the driver opens the slave
path (``/dev/pts/N``) with pyserial exactly as it would open ``/dev/ttyUSB0``.
Every byte goes through :mod:`protocol.devices.mtsics` or
:mod:`protocol.devices.toledo`, so what the driver sees is the real format.

State is scriptable from tests: load (``set_weight``), settling time, noise,
tare, and two faults: ``set_silent`` (stops answering / streaming) and
garbage (``send_garbage`` once, ``set_garbage`` for a fraction of outputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import os
import random
import sys
import tty
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from protocol.devices import mtsics, toledo
from protocol.errors import NeedData, RemoteProtocolError

Number = Decimal | float | int | str


class WireProtocol(enum.StrEnum):
    MT_SICS = "mt-sics"
    TOLEDO = "toledo"


def _dec(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def parse_script(text: str) -> list[tuple[float, Decimal]]:
    """``"0:0, 0.5:1234.5, 3:0"`` -> [(0.0, 0), (0.5, 1234.5), (3.0, 0)] (seconds, load)."""
    steps = []
    for item in text.split(","):
        if not item.strip():
            continue
        at, _, load = item.partition(":")
        steps.append((float(at), _dec(load.strip())))
    return steps


class ScaleSimulator:
    """One simulated scale. ``await start()`` returns the slave path to open."""

    def __init__(
        self,
        protocol: WireProtocol | str = WireProtocol.MT_SICS,
        *,
        weight: Number = 0,
        unit: str = "g",
        resolution: Number = "0.1",
        capacity: Number = 30000,
        settle_time: float = 0.3,
        noise: float = 0.0,
        rate_hz: float = 20.0,
        checksum: bool = True,
        serial_number: str = "SIM0000001",
        command_timeout: float = 3.0,
        seed: int = 0,
        link: Path | str | None = None,
    ) -> None:
        self.protocol = WireProtocol(protocol)
        self.unit = unit
        self.resolution = _dec(resolution)
        self.capacity = _dec(capacity)
        self.settle_time = settle_time
        self.noise = noise
        self.rate_hz = rate_hz
        self.checksum = checksum
        self.serial_number = serial_number
        self.command_timeout = command_timeout
        self.link = Path(link) if link is not None else None
        self.silent = False
        self.garbage = 0.0
        #: Every command line received, decoded or not (for tests).
        self.commands: list[str] = []
        self._rng = random.Random(seed)
        self._target = _dec(weight)
        self._start = self._target
        self._t0 = -math.inf
        self._zero = Decimal(0)
        self._tare = Decimal(0)
        self._master: int | None = None
        self._slave: int | None = None
        self.port = ""
        self._decoder = mtsics.CommandDecoder()
        self._queue: asyncio.Queue[mtsics.Command | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._repeat: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> str:
        master, slave = os.openpty()
        # Raw mode: no echo and no CR -> LF translation, like a real UART.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.port)
        loop = asyncio.get_running_loop()
        self._t0 = loop.time() - self.settle_time
        loop.add_reader(master, self._on_readable)
        if self.protocol is WireProtocol.MT_SICS:
            self._tasks.append(asyncio.create_task(self._serve_commands()))
        else:
            self._tasks.append(asyncio.create_task(self._stream()))
        return self.port

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._repeat] if self._repeat else [])]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
        if self._slave is not None:
            os.close(self._slave)
        self._master = self._slave = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    async def __aenter__(self) -> ScaleSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- scripted state ----------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def set_weight(self, weight: Number, settle_time: float | None = None) -> None:
        """Put a load on the platform; it swings and settles after ``settle_time``."""
        now = self._now()
        self._start = self._gross(now)[0]
        self._target = _dec(weight)
        if settle_time is not None:
            self.settle_time = settle_time
        self._t0 = now

    def set_noise(self, amplitude: float) -> None:
        """Jitter on the reading; above half a division the scale never settles."""
        self.noise = amplitude

    def set_tare(self, tare: Number) -> None:
        self._tare = _dec(tare)

    def set_silent(self, silent: bool) -> None:
        """Stop answering (MT-SICS) or streaming (Toledo), like a cut cable."""
        self.silent = silent

    def set_garbage(self, fraction: float) -> None:
        """Replace this fraction of outputs by random bytes of the same length."""
        self.garbage = fraction

    def send_garbage(self, data: bytes | None = None) -> None:
        """Write raw bytes to the line now (random bytes by default)."""
        self._write(data if data is not None else self._rng.randbytes(48), raw=True)

    def run_script(self, steps: Sequence[tuple[float, Number]]) -> asyncio.Task[None]:
        """Apply ``(seconds from now, load)`` steps in order; returns the running task."""

        async def play() -> None:
            start = self._now()
            for at, load in sorted(steps, key=lambda s: s[0]):
                await asyncio.sleep(max(0.0, start + at - self._now()))
                self.set_weight(load)

        task = asyncio.create_task(play())
        self._tasks.append(task)
        return task

    @property
    def settled_at(self) -> float:
        """Loop time at which the current load stops moving."""
        return self._t0 + self.settle_time

    @property
    def tare(self) -> Decimal:
        return self._tare

    # ---- weighing model --------------------------------------------------

    def _gross(self, now: float) -> tuple[Decimal, bool]:
        """(gross load, settled) at ``now``: a damped swing towards the target."""
        elapsed = now - self._t0
        if elapsed >= self.settle_time:
            return self._target, True
        frac = elapsed / self.settle_time
        swing = (1 - frac) ** 2 * math.cos(3 * math.pi * frac)
        value = float(self._target) + float(self._start - self._target) * swing
        return _dec(round(value, 6)), False

    def reading(self, now: float | None = None) -> tuple[Decimal, bool, str]:
        """(displayed net weight, stable, "ok"|"over"|"under") as the display shows it."""
        now = self._now() if now is None else now
        gross, settled = self._gross(now)
        noisy = float(self.noise) > float(self.resolution) / 2
        if not settled or noisy:
            gross += _dec(round(self._rng.uniform(-self.noise, self.noise), 6))
        stable = settled and not noisy
        if gross > self.capacity:
            state = "over"
        elif gross < -20 * self.resolution:  # pan lifted off: far below zero
            state = "under"
        else:
            state = "ok"
        net = (gross - self._zero - self._tare) / self.resolution
        return net.to_integral_value() * self.resolution, stable, state

    async def _wait_stable(self) -> tuple[Decimal, bool, str]:
        """Wait as S, Z and T do (§3: 'I' after a timeout without stability)."""
        deadline = self._now() + self.command_timeout
        while True:
            value, stable, state = self.reading()
            if stable or state != "ok" or self._now() >= deadline:
                return value, stable, state
            # Sleep to the settling moment, but re-check often: noise may persist.
            await asyncio.sleep(min(0.01, max(0.001, self.settled_at - self._now())))

    # ---- wire ------------------------------------------------------------

    def _write(self, data: bytes, raw: bool = False) -> None:
        if self._master is None:
            return
        if not raw and self.garbage and self._rng.random() < self.garbage:
            data = self._rng.randbytes(len(data))
        # Nobody listening and the pty buffer full: a real line drops bytes too.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, data)

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return
        if self.protocol is WireProtocol.TOLEDO or self.silent:
            return  # continuous mode takes no commands here; silent ignores all
        self._decoder.feed(data)
        while True:
            try:
                command = self._decoder.next_message()
            except RemoteProtocolError as err:
                self.commands.append(f"<bad: {err}>")
                self._queue.put_nowait(None)  # answered with ES in order
                continue
            if isinstance(command, NeedData):
                return
            self.commands.append(command.name.value)
            self._queue.put_nowait(command)

    def _stop_repeat(self) -> None:
        if self._repeat is not None:
            self._repeat.cancel()
            self._repeat = None

    async def _serve_commands(self) -> None:
        while True:
            command = await self._queue.get()
            if self.silent:
                continue
            if command is None:
                self._write(mtsics.encode_reply(mtsics.ErrorReply(mtsics.ErrorCode.SYNTAX)))
                continue
            self._stop_repeat()
            reply = await self._answer(command.name)
            if reply is not None and not self.silent:
                self._write(mtsics.encode_reply(reply))

    def _weight_reply(self, value: Decimal, stable: bool, state: str) -> mtsics.Reply:
        if state == "over":
            return mtsics.StatusReply("S", mtsics.Status.OVER)
        if state == "under":
            return mtsics.StatusReply("S", mtsics.Status.UNDER)
        return mtsics.WeightReply("S", stable, value, self.unit)

    async def _answer(self, name: mtsics.CommandName) -> mtsics.Reply | None:
        names = mtsics.CommandName
        if name is names.SEND_IMMEDIATELY:
            return self._weight_reply(*self.reading())
        if name is names.SEND_IMMEDIATELY_REPEAT:
            self._repeat = asyncio.create_task(self._repeat_si())
            return None
        if name in (names.RESET, names.SERIAL_NUMBER):
            if name is names.RESET:
                self._tare = Decimal(0)  # §3 "@": back to power-on state, no zeroing
            return mtsics.SerialNumberReply(self.serial_number)
        value, stable, state = await self._wait_stable()
        ident = name.value
        if name is names.SEND_STABLE:
            if state == "ok" and not stable:
                return mtsics.StatusReply("S", mtsics.Status.NOT_EXECUTABLE)
            return self._weight_reply(value, stable, state)
        if not stable or state != "ok":
            return mtsics.StatusReply(ident, mtsics.Status.NOT_EXECUTABLE)
        gross, _ = self._gross(self._now())
        if name is names.ZERO:
            # Push-button zero works within +/-2 % of capacity (OIML R76 4.5.1).
            limit = self.capacity / 50
            if gross - self._tare > limit:
                return mtsics.StatusReply(ident, mtsics.Status.OVER)
            if gross - self._tare < -limit:
                return mtsics.StatusReply(ident, mtsics.Status.UNDER)
            self._zero = gross
            self._tare = Decimal(0)
            return mtsics.StatusReply(ident, mtsics.Status.DONE)
        tare = gross - self._zero
        if tare < 0:
            return mtsics.StatusReply(ident, mtsics.Status.UNDER)
        self._tare = (tare / self.resolution).to_integral_value() * self.resolution
        return mtsics.WeightReply(ident, True, self._tare, self.unit)

    async def _repeat_si(self) -> None:
        while True:
            if not self.silent:
                self._write(mtsics.encode_reply(self._weight_reply(*self.reading())))
            await asyncio.sleep(1 / self.rate_hz)

    def _toledo_frame(self) -> toledo.ToledoFrame:
        value, stable, state = self.reading()
        res = self.resolution.normalize()
        _, digits, exponent = res.as_tuple()
        assert isinstance(exponent, int)
        increment = digits[0] if len(digits) == 1 and digits[0] in (1, 2, 5) else 1
        places = -exponent
        limit = Decimal(999999).scaleb(-places)
        return toledo.ToledoFrame(
            weight=max(-limit, min(limit, value)),
            tare=min(limit, self._tare),
            unit=self.unit,
            decimal_places=places,
            motion=not stable,
            net=self._tare != 0,
            out_of_range=state != "ok" or abs(value) > limit,
            increment=increment,
        )

    async def _stream(self) -> None:
        while True:
            if not self.silent:
                self._write(toledo.encode_frame(self._toledo_frame(), self.checksum))
            await asyncio.sleep(1 / self.rate_hz)


def command(
    protocol: Annotated[
        WireProtocol, typer.Option(help="mt-sics (request/response) or toledo (continuous)")
    ] = WireProtocol.MT_SICS,
    weight: Annotated[float, typer.Option(help="Load on the platform at start")] = 0.0,
    unit: Annotated[str, typer.Option(help="Unit (g, kg, lb for Toledo)")] = "g",
    resolution: Annotated[str, typer.Option(help="Display division, e.g. 0.1")] = "0.1",
    capacity: Annotated[float, typer.Option(help="Maximum load; above it: overload")] = 30000.0,
    settle: Annotated[float, typer.Option(help="Seconds a new load swings before settling")] = 0.5,
    noise: Annotated[float, typer.Option(help="Jitter; above resolution/2 never stable")] = 0.0,
    rate: Annotated[float, typer.Option(help="Toledo frames (or SIR replies) per second")] = 20.0,
    checksum: Annotated[bool, typer.Option(help="Toledo: send the checksum byte")] = True,
    script: Annotated[str, typer.Option(help='Load steps "sec:load,...", e.g. "1:500,4:0"')] = "",
    link: Annotated[Path | None, typer.Option(help="Also symlink the pty here")] = None,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: never)")] = 0.0,
) -> None:
    """Run a simulated parcel scale on a pty and print the path to open."""

    async def run() -> None:
        sim = ScaleSimulator(
            protocol,
            weight=weight,
            unit=unit,
            resolution=resolution,
            capacity=capacity,
            settle_time=settle,
            noise=noise,
            rate_hz=rate,
            checksum=checksum,
            link=link,
        )
        port = await sim.start()
        print(port, flush=True)
        print(
            f"{protocol.value} scale on {port}" + (f" (-> {link})" if link else ""), file=sys.stderr
        )
        if script:
            sim.run_script(parse_script(script))
        try:
            if duration > 0:
                await asyncio.sleep(duration)
            else:
                await asyncio.Event().wait()
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    typer.run(command)
