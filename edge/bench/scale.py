"""Benchmark: how long after a load settles does the scale driver report it?

For each trial a fresh load is put on a scale behind a real pty pair; the
clock starts at the moment the load settles (the scale would show it as
stable) and stops when :meth:`Scale.stable_weight` returns that weight.
Target: p99 <= 300 ms with default driver settings.

The scale here is a minimal rig built on the shared codecs in
:mod:`protocol.devices`, not ``simulators.devices.scale``: edge must not import
simulators (import-linter contract), and the rig needs no more than
"dynamic until t, stable after" to measure the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tty
from decimal import Decimal

from edge.devices.scale import Scale, ScaleProtocol
from protocol.devices import mtsics, toledo
from protocol.errors import NeedData, RemoteProtocolError


class _Rig:
    """A pty scale whose load is ``target`` and settles at ``settled_at``."""

    def __init__(self, protocol: ScaleProtocol, rate_hz: float) -> None:
        self.protocol = protocol
        self.rate_hz = rate_hz
        self.target = Decimal(0)
        self.settled_at = 0.0
        self._decoder = mtsics.CommandDecoder()
        self._stream: asyncio.Task[None] | None = None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)

    def set_weight(self, value: Decimal, settle: float) -> None:
        self.target = value
        self.settled_at = asyncio.get_running_loop().time() + settle

    def _reading(self) -> tuple[Decimal, bool]:
        stable = asyncio.get_running_loop().time() >= self.settled_at
        return (self.target if stable else self.target - Decimal("3.7")), stable

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._on_readable)
        if self.protocol == "toledo":
            self._stream = asyncio.create_task(self._stream_frames())

    async def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self._master)
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream
        os.close(self._master)
        os.close(self._slave)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def _on_readable(self) -> None:
        with contextlib.suppress(OSError):
            self._decoder.feed(os.read(self._master, 4096))
        while True:
            try:
                command = self._decoder.next_message()
            except RemoteProtocolError:
                self._write(mtsics.encode_reply(mtsics.ErrorReply(mtsics.ErrorCode.SYNTAX)))
                continue
            if isinstance(command, NeedData):
                return
            value, stable = self._reading()
            self._write(mtsics.encode_reply(mtsics.WeightReply("S", stable, value, "g")))

    async def _stream_frames(self) -> None:
        while True:
            value, stable = self._reading()
            frame = toledo.ToledoFrame(
                weight=value, tare=Decimal(0), unit="g", decimal_places=1, motion=not stable
            )
            self._write(toledo.encode_frame(frame))
            await asyncio.sleep(1 / self.rate_hz)


async def _trials(
    protocol: ScaleProtocol, trials: int, settle: float, rate_hz: float
) -> list[float]:
    rig = _Rig(protocol, rate_hz)
    rig.start()
    latencies: list[float] = []
    try:
        async with Scale(rig.port, protocol=protocol) as scale:
            await scale.stable_weight(timeout=5.0)
            for trial in range(trials):
                target = Decimal(1000 + trial) + Decimal("0.5")
                rig.set_weight(target, settle)
                while True:
                    weight = await scale.stable_weight(timeout=5.0)
                    if weight.value == target:
                        break
                latencies.append((weight.received_at - rig.settled_at) * 1000)
    finally:
        await rig.stop()
    return latencies


def _summary(prefix: str, ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        f"{prefix}_p50_ms": round(statistics.median(ordered), 2),
        f"{prefix}_p99_ms": round(p99, 2),
        f"{prefix}_max_ms": round(ordered[-1], 2),
    }


def bench_scale(
    trials: int = 50, settle: float = 0.08, toledo_rate_hz: float = 20.0
) -> dict[str, float]:
    """Settle-to-report latency for MT-SICS (SI polling) and Toledo continuous."""
    figures: dict[str, float] = {"trials": float(trials)}
    runs: tuple[tuple[ScaleProtocol, str], ...] = (("mt-sics", "mtsics"), ("toledo", "toledo"))
    for protocol, prefix in runs:
        ms = asyncio.run(_trials(protocol, trials, settle, toledo_rate_hz))
        figures.update(_summary(prefix, ms))
    return figures


if __name__ == "__main__":
    print(bench_scale())
