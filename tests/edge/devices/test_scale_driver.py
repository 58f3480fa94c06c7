"""The scale driver against the pty simulator, for real (no mocks on the wire)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path

import pytest
import serial

from edge.devices.base import DeviceError, reconnect_backoff
from edge.devices.scale import OutOfRange, Scale, ScaleProtocol, Weight
from simulators.devices.scale import ScaleSimulator, WireProtocol, command, parse_script
from tests.support import until

PROTOCOLS: list[ScaleProtocol] = ["mt-sics", "toledo"]


def run(coro: Awaitable[None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await coro

    asyncio.run(bounded())


def make_scale(port: str, protocol: ScaleProtocol, **kw: object) -> Scale:
    options: dict[str, object] = {
        "protocol": protocol,
        "silence_timeout": 0.4,
        "reply_timeout": 0.15,
        "backoff": reconnect_backoff(base=0.02, cap=0.1),
    }
    options.update(kw)
    return Scale(port, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stable_weight_only_after_settling(protocol: ScaleProtocol) -> None:
    async def main() -> None:
        async with (
            ScaleSimulator(protocol, weight=0, settle_time=0.25) as sim,
            make_scale(sim.port, protocol) as scale,
        ):
            await scale.stable_weight(timeout=3)
            sim.set_weight("1234.5")
            weight = await scale.stable_weight(timeout=3)
            # Moving readings while the load swings are never reported as stable.
            assert weight.value == Decimal("1234.5")
            assert weight.unit == "g"
            assert weight.stable
            assert weight.grams == Decimal("1234.5")
            assert weight.received_at >= sim.settled_at
            assert scale.health.connected

    run(main())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unstable_scale_makes_the_caller_wait(protocol: ScaleProtocol) -> None:
    async def main() -> None:
        async with (
            ScaleSimulator(protocol, weight=500, noise=2.0) as sim,
            make_scale(sim.port, protocol) as scale,
        ):
            await until(lambda: scale.health.connected)
            with pytest.raises(DeviceError, match=r"weight not stable within 0.4 s \(last: .* g"):
                await scale.stable_weight(timeout=0.4)
            waiter = asyncio.create_task(scale.stable_weight(timeout=3))
            await asyncio.sleep(0.2)
            assert not waiter.done()  # still vibrating: keeps waiting
            sim.set_noise(0)
            assert (await waiter).value == 500

    run(main())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_readings_stream_shows_motion_then_stable(protocol: ScaleProtocol) -> None:
    async def main() -> None:
        async with (
            ScaleSimulator(protocol, weight=0, settle_time=0.2) as sim,
            make_scale(sim.port, protocol, stable_frames=3) as scale,
        ):
            await scale.stable_weight(timeout=3)
            sim.set_weight(42)
            seen: list[Weight] = []
            async for reading in scale.readings():
                assert isinstance(reading, Weight)
                seen.append(reading)
                if reading.stable and reading.value == 42:
                    break
            assert any(not r.stable for r in seen)
            if protocol == "toledo":
                # Stable only after 3 motion-free frames with the same weight.
                assert [r.value for r in seen[-3:]] == [42, 42, 42]
                assert [r.stable for r in seen[-3:]] == [False, False, True]

    run(main())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_overload_and_underload_are_reported_clearly(protocol: ScaleProtocol) -> None:
    async def main() -> None:
        async with (
            ScaleSimulator(protocol, weight=0, capacity=6000, settle_time=0.05) as sim,
            make_scale(sim.port, protocol) as scale,
        ):
            await scale.stable_weight(timeout=3)
            sim.set_weight(7000)
            with pytest.raises(
                DeviceError, match="overload: the load is above the scale's capacity"
            ):
                await scale.stable_weight(timeout=3)
            assert isinstance(scale.latest, OutOfRange)
            sim.set_weight(-100)
            with pytest.raises(DeviceError, match="underload"):
                await scale.stable_weight(timeout=3)
            # The scale itself is fine: the driver keeps running and reads again.
            sim.set_weight(100)
            assert (await scale.stable_weight(timeout=3)).value == 100
            assert scale.health.connected

    run(main())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_silent_scale_goes_down_and_recovers(
    protocol: ScaleProtocol, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with (
            ScaleSimulator(protocol, weight=250) as sim,
            make_scale(sim.port, protocol) as scale,
        ):
            await scale.stable_weight(timeout=3)
            waiter = asyncio.create_task(scale.stable_weight(timeout=5))
            sim.set_silent(True)
            sim.set_weight(260)
            with pytest.raises(DeviceError, match="scale stopped answering"):
                await waiter
            assert not scale.health.connected
            assert scale.health.errors >= 1
            with pytest.raises(DeviceError, match="scale not answering"):
                await scale.stable_weight(timeout=0.3)
            sim.set_silent(False)
            assert (await scale.stable_weight(timeout=5)).value == 260
            assert scale.health.connected

    with caplog.at_level(logging.INFO, logger="edge.devices.scale"):
        run(main())
    # The failure and the recovery are each logged once, not every retry.
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1
    assert sum("available again" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_garbage_on_the_line_is_skipped_and_the_driver_keeps_reading(
    protocol: ScaleProtocol,
) -> None:
    async def main() -> None:
        async with (
            ScaleSimulator(protocol, weight=10, settle_time=0.05, seed=7) as sim,
            make_scale(sim.port, protocol, silence_timeout=1.0) as scale,
        ):
            await scale.stable_weight(timeout=3)
            sim.send_garbage()
            sim.send_garbage(b"\x00\xff" * 150)  # longer than any line, no terminator
            sim.send_garbage(b"S S 12\x01 g\r\n" if protocol == "mt-sics" else b"\x02\x02\x02")
            sim.set_weight(20)
            assert (await scale.stable_weight(timeout=3)).value == 20
            errors = scale.health.extra["protocol_errors"]
            assert isinstance(errors, int)
            assert errors >= 1
            text = str(scale.health.extra["last_protocol_error"])
            assert (
                ("MT-SICS" in text)
                if protocol == "mt-sics"
                else ("STX" in text or "Toledo" in text)
            )
            # A noisy line: a third of all outputs replaced by random bytes.
            sim.set_garbage(0.3)
            sim.set_weight(30)
            assert (await scale.stable_weight(timeout=5)).value == 30
            assert scale.health.connected

    run(main())


def test_tare_and_zero_over_mtsics() -> None:
    async def main() -> None:
        async with (
            ScaleSimulator("mt-sics", weight=300, settle_time=0.05) as sim,
            make_scale(sim.port, "mt-sics") as scale,
        ):
            await scale.stable_weight(timeout=3)
            tare = await scale.tare()
            assert tare.value == 300
            assert sim.tare == 300
            assert (await scale.stable_weight(timeout=3)).value == 0
            sim.set_weight(1300)
            assert (await scale.stable_weight(timeout=3)).value == 1000  # net
            sim.set_weight(0)
            await scale.stable_weight(timeout=3)
            await scale.zero()
            assert sim.tare == 0
            sim.set_weight(5000)  # far outside the +/-2 % zero range
            await scale.stable_weight(timeout=3)
            with pytest.raises(DeviceError, match=r"zero not performed: Z \+"):
                await scale.zero()
            assert "Z" in sim.commands and "T" in sim.commands

    run(main())


def test_toledo_scale_refuses_mtsics_commands() -> None:
    async def main() -> None:
        async with (
            ScaleSimulator("toledo") as sim,
            make_scale(sim.port, "toledo") as scale,
        ):
            with pytest.raises(DeviceError, match="needs an MT-SICS scale"):
                await scale.tare()

    run(main())


def test_missing_port_is_a_fault_not_a_crash(tmp_path: Path) -> None:
    async def main() -> None:
        link = tmp_path / "scale"
        async with make_scale(str(link), "mt-sics") as scale:
            with pytest.raises(DeviceError, match=r"scale not answering.*cannot open"):
                await scale.stable_weight(timeout=0.3)
            assert not scale.health.connected
            # The scale is plugged in later under the same name: the driver finds it.
            async with ScaleSimulator("mt-sics", weight=77, link=link):
                assert (await scale.stable_weight(timeout=3)).value == 77
                assert scale.health.connected

    run(main())


def test_unplugged_port_is_reopened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        link = tmp_path / "scale"
        async with make_scale(str(link), "toledo") as scale:
            async with ScaleSimulator("toledo", weight=1, link=link):
                assert (await scale.stable_weight(timeout=3)).value == 1
            await until(lambda: not scale.health.connected)
            assert scale.health.errors >= 1
            async with ScaleSimulator("toledo", weight=2, link=link):
                assert (await scale.stable_weight(timeout=3)).value == 2

    with caplog.at_level(logging.WARNING, logger="edge.devices.scale"):
        run(main())
    assert [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()] == [
        f"scale scale unavailable: serial port {tmp_path / 'scale'} failed: "
        "[Errno 5] Input/output error"
    ] or "no valid frame" in caplog.text


def test_simulator_answers_unknown_commands_with_es() -> None:
    async def main() -> None:
        async with ScaleSimulator("mt-sics", weight="12.3", serial_number="X1") as sim:
            port = serial.Serial(sim.port, timeout=1)
            try:
                loop = asyncio.get_running_loop()
                for sent, expected in [
                    (b"XX\r\n", b"ES\r\n"),
                    (b"SI\r\n", b"S S       12.3 g\r\n"),
                    (b"@\r\n", b'I4 A "X1"\r\n'),
                ]:
                    port.write(sent)
                    got = await loop.run_in_executor(None, port.read_until, b"\r\n")
                    assert got == expected
            finally:
                port.close()

    run(main())


def test_script_steps_apply_in_time() -> None:
    assert parse_script("0:0, 0.5:1234.5,") == [(0.0, Decimal(0)), (0.5, Decimal("1234.5"))]

    async def main() -> None:
        async with ScaleSimulator("mt-sics", weight=0, settle_time=0.05) as sim:
            task = sim.run_script([(0.0, 5), (0.1, 6)])
            await task
            await asyncio.sleep(0.06)
            assert sim.reading()[:2] == (Decimal(6), True)

    run(main())


def test_command_runs_standalone_and_prints_the_pty(capsys: pytest.CaptureFixture[str]) -> None:
    command(
        protocol=WireProtocol.TOLEDO,
        weight=1.0,
        unit="kg",
        resolution="0.01",
        capacity=60.0,
        settle=0.1,
        noise=0.0,
        rate=20.0,
        checksum=True,
        script="",
        link=None,
        duration=0.2,
    )
    captured = capsys.readouterr()
    assert captured.out.strip().startswith("/dev/pts/")
    assert f"toledo scale on {captured.out.strip()}" in captured.err
