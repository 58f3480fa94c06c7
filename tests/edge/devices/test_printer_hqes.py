"""The label printer driver asks ~HQES with ~HS (issue 19, finding 8): faults ~HS cannot
say stop a print, warnings reach the device's health, and a printer without ~HQ is
still driven, with ~HS alone after one unanswered ~HQES."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.devices.base import DeviceError, reconnect_backoff
from edge.devices.printer import LabelPrinter
from simulators.devices.printer import LabelPrinterSimulator
from tests.simulators.devices.test_printer_sim import LABEL


def _driver(sim: LabelPrinterSimulator, timeout: float = 2.0) -> LabelPrinter:
    return LabelPrinter(
        "127.0.0.1",
        sim.port,
        status_timeout=timeout,
        backoff=reconnect_backoff(base=0.01, cap=0.05),
    )


def test_a_cutter_fault_only_hqes_reports_refuses_the_print() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.set_state(cutter_fault=True)
            drv = _driver(sim)
            assert sim.host_status().ready  # ~HS alone says nothing is wrong
            with pytest.raises(DeviceError, match="refusing to print: cutter fault"):
                await drv.print_label(LABEL)
            assert b"^XA" not in sim.received and sim.printed == []
            assert drv.host_query is True
            sim.set_state(cutter_fault=False, paper_near_end=True)
            after = await drv.print_label(LABEL)
            assert after.ready and len(sim.printed) == 1
            status = await drv.status()
            assert status.warnings() == ["paper near end"]
            assert drv.health.extra["warnings"] == ["paper near end"]
            await drv.close()

    asyncio.run(main())


def test_a_printer_without_hq_is_asked_hs_alone_after_one_silence() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.hq_supported = False
            drv = _driver(sim, timeout=0.3)
            first = await drv.status()  # waits out one ~HQES timeout, then knows
            assert first.ready and drv.host_query is False
            t0 = time.monotonic()
            assert (await drv.print_label(LABEL)).ready
            assert time.monotonic() - t0 < 0.3  # no second wait for an answer never coming
            assert len(sim.printed) == 1
            await drv.close()

    asyncio.run(main())
