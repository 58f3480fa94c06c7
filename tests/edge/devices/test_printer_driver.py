"""edge.devices.printer against the simulators over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from edge.devices.base import DeviceError, reconnect_backoff
from edge.devices.printer import LabelPrinter, ReceiptPrinter
from simulators.devices.printer import LabelPrinterSimulator, ReceiptPrinterSimulator
from tests.simulators.devices.test_printer_sim import LABEL, assert_barcode_scans
from tests.support import until


def _driver(sim: LabelPrinterSimulator, **kw: float) -> LabelPrinter:
    return LabelPrinter(
        "127.0.0.1",
        sim.port,
        status_timeout=kw.get("status_timeout", 2.0),
        backoff=reconnect_backoff(base=0.01, cap=0.05),
    )


def test_print_ok_writes_a_scannable_png(tmp_path: Path) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator(out_dir=tmp_path) as sim:
            drv = _driver(sim)
            after = await drv.print_label(LABEL)
            assert after.ready and drv.labels_sent == 1 and drv.health.connected
            (label,) = sim.printed
            assert label.png is not None and label.png.exists()
            assert_barcode_scans(label.png, label.layout, LABEL.waybill)
            await drv.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"paper_out": True}, "paper out"),
        ({"head_open": True}, "head open"),
        ({"paused": True}, "paused"),
        ({"ribbon_out": True}, "ribbon out"),
    ],
)
def test_not_ready_is_refused_before_sending(state: dict[str, bool], words: str) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.set_state(**state)
            drv = _driver(sim)
            with pytest.raises(DeviceError, match=f"refusing to print: {words}"):
                await drv.print_label(LABEL)
            assert b"^XA" not in sim.received and sim.held == []
            assert drv.health.extra["problems"] == [words] and drv.health.errors == 1
            sim.set_state(**{k: False for k in state})
            assert (await drv.print_label(LABEL)).ready  # keeps working once fixed
            assert len(sim.printed) == 1
            await drv.close()

    asyncio.run(main())


def test_close_mid_job_is_reported_then_driver_recovers(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            drv = _driver(sim)
            await drv.status()
            sim.close_mid_job()
            with pytest.raises(DeviceError, match="print: connection closed mid-job"):
                await drv.print_label(LABEL)
            assert not drv.health.connected and sim.printed == []
            assert (await drv.print_label(LABEL)).ready
            assert drv.health.connected and len(sim.printed) == 1
            await drv.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    assert sum("unavailable" in r.message for r in caplog.records) == 1
    assert sum("available again" in r.message for r in caplog.records) == 1


def test_no_hs_answer_times_out_then_recovers() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.hs_silent = True
            drv = _driver(sim, status_timeout=0.2)
            with pytest.raises(DeviceError, match=r"no answer to ~HS within 0.2 s"):
                await drv.print_label(LABEL)
            assert not drv.health.connected and sim.printed == []
            sim.hs_silent = False
            assert (await drv.print_label(LABEL)).ready
            await drv.close()

    asyncio.run(main())


def test_bad_hs_answer_is_a_clear_error() -> None:
    async def main() -> None:
        async def liar(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read(3)
            w.write(b"\x02nonsense\x03\r\n")
            await w.drain()
            await r.read(10)

        server = await asyncio.start_server(liar, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        drv = LabelPrinter("127.0.0.1", port, status_timeout=1)
        with pytest.raises(DeviceError, match="bad ~HS answer: ~HS string 1 has 1 fields"):
            await drv.status()
        await drv.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_run_loop_survives_printer_going_away() -> None:
    async def main() -> None:
        sim = LabelPrinterSimulator()
        await sim.start()
        port = sim.port
        drv = LabelPrinter(
            "127.0.0.1",
            port,
            backoff=reconnect_backoff(base=0.01, cap=0.05),
            connect_timeout=0.5,
            status_timeout=0.5,
        )
        stop = asyncio.Event()
        loop_task = asyncio.create_task(drv.run(stop, interval=0.02))
        await until(lambda: drv.health.connected)
        await sim.stop()
        await until(lambda: not drv.health.connected)
        sim2 = LabelPrinterSimulator(port=port)
        await sim2.start()
        await until(lambda: drv.health.connected)
        stop.set()
        await asyncio.wait_for(loop_task, 2)  # returned, never raised
        await sim2.stop()

    asyncio.run(main())


# --- ESC/POS receipts through python-escpos -------------------------------------------------


def test_receipt_prints_and_status_via_python_escpos() -> None:
    async def main() -> None:
        sim = ReceiptPrinterSimulator()
        await sim.start()
        try:
            drv = ReceiptPrinter("127.0.0.1", sim.port, timeout=1)
            status = await drv.print_receipt(["管家 Guanjia", "订单 GJ-42", "合计 12.50"])
            assert status.online and not status.problems()
            await asyncio.sleep(0.05)
            (receipt,) = sim.receipts
            assert receipt.lines == ["管家 Guanjia", "订单 GJ-42", "合计 12.50"] and receipt.cut
            assert sim.status_requests == [1, 2, 4, 1, 2, 4]

            sim.paper_out = True
            with pytest.raises(DeviceError, match="refusing to print: paper end"):
                await drv.print_receipt(["x"])
            sim.paper_out, sim.cover_open = False, True
            with pytest.raises(DeviceError, match="refusing to print: cover open"):
                await drv.print_receipt(["x"])
            sim.cover_open, sim.status_silent = False, True
            with pytest.raises(DeviceError, match="no answer to DLE EOT within 1 s"):
                await drv.status()
            assert not drv.health.connected
            sim.status_silent = False
            assert (await drv.status()).online and drv.health.connected
        finally:
            await sim.stop()

    asyncio.run(main())
