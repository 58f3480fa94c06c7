"""The printer simulators over real TCP on 127.0.0.1, spoken to with raw sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import barcode  # type: ignore[import-untyped]
import pytest
from PIL import Image

from protocol.devices import escpos, zpl
from simulators.devices.printer import LabelPrinterSimulator, ReceiptPrinterSimulator

LABEL = zpl.ShippingLabel(
    waybill="YT7654321098765",
    carrier="圆通速递",
    order_id="GJ-42",
    weight_g=830,
    recipient_name="李四",
    recipient_phone="13912345678",
    province="浙江省",
    city="杭州市",
    district="西湖区",
    address="文三路 100 号",
)


def bar_modules(png: Path, field: zpl.BarcodeField) -> str:
    """Read one pixel row across the bars back into python-barcode's module string."""
    img = Image.open(png).convert("L")
    y = field.y + field.height // 2
    row = [img.getpixel((x, y)) for x in range(img.width)]
    dark = ["1" if isinstance(p, int) and p < 128 else "0" for p in row]
    first = dark.index("1", field.x - field.module)
    last = len(dark) - 1 - dark[::-1].index("1")
    runs = "".join(dark[first : last + 1])
    # Each module is `field.module` pixels wide: sample the middle of each.
    return "".join(runs[i + field.module // 2] for i in range(0, len(runs), field.module))


def assert_barcode_scans(png: Path, layout: zpl.LabelLayout, waybill: str) -> None:
    """The PNG's barcode reads back as ``waybill`` (a real scanner and module by module)."""
    (field,) = [f for f in layout.fields if isinstance(f, zpl.BarcodeField)]
    assert bar_modules(png, field) == barcode.Code128(waybill).build()[0]
    try:
        import zxingcpp  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - the module check above still ran
        return
    found = zxingcpp.read_barcodes(Image.open(png))
    assert [(r.text, r.format.name) for r in found] == [(waybill, "Code128")]


async def _hs(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> zpl.HostStatus:
    writer.write(b"~HS")
    await writer.drain()
    dec = zpl.HostStatusDecoder()
    # One read: the simulator must send all three strings in one write.
    dec.feed(await asyncio.wait_for(reader.read(4096), 2))
    msg = dec.next_message()
    assert isinstance(msg, zpl.HostStatus)
    return msg


def test_label_printed_kept_and_rendered(tmp_path: Path) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator(out_dir=tmp_path) as sim:
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            job = zpl.build_label(LABEL)
            w.write(job[:50])
            await w.drain()
            mid = await _hs(r, w)
            assert mid.partial_format
            w.write(job[50:])
            status = await _hs(r, w)
            assert status.ready and not status.partial_format
            w.close()
            (label,) = sim.printed
            assert label.raw == job.rstrip(b"\n")
            assert label.layout.barcodes() == [LABEL.waybill]
            assert "收 李*  *******5678" in label.layout.texts()  # the privacy waybill
            assert label.png is not None and label.png.parent == tmp_path
            assert_barcode_scans(label.png, label.layout, LABEL.waybill)

    asyncio.run(main())


def test_paper_out_accepts_but_prints_nothing_until_fixed(tmp_path: Path) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator(out_dir=tmp_path) as sim:
            sim.set_state(paper_out=True, head_open=True)
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            w.write(zpl.build_label(LABEL) * 2)
            status = await _hs(r, w)
            assert status.paper_out and status.head_open and status.formats_in_buffer == 2
            assert sim.printed == [] and not any(tmp_path.iterdir())
            sim.set_state(paper_out=False, head_open=False)
            assert len(sim.printed) == 2
            assert (await _hs(r, w)).formats_in_buffer == 0
            sim.set_state(paused=True, ribbon_out=True)
            status = await _hs(r, w)
            assert status.paused and status.ribbon_out
            w.write(zpl.build_label(LABEL) + b"~JA")
            assert (await _hs(r, w)).formats_in_buffer == 0  # ~JA cancelled it
            w.close()

    asyncio.run(main())


def test_garbage_is_noted_and_printer_keeps_serving() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            w.write(b"\x00garbage\n")
            await w.drain()
            await asyncio.sleep(0.05)
            assert sim.errors and "expected ^XA" in sim.errors[0]
            assert (await _hs(r, w)).ready
            w.close()

    asyncio.run(main())


def test_silent_hs_and_close_mid_job() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.hs_silent = True
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            w.write(b"~HS")
            await w.drain()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(r.read(10), 0.2)
            assert sim.status_requests == 1
            sim.hs_silent = False
            sim.close_mid_job()
            w.write(zpl.build_label(LABEL)[:40])
            await w.drain()
            try:
                got = await asyncio.wait_for(r.read(10), 2)
            except ConnectionResetError:
                got = b""
            assert got == b""  # reset or EOF, never an answer
            assert sim.printed == []

    asyncio.run(main())


def test_receipt_simulator_status_and_text() -> None:
    async def main() -> None:
        sim = ReceiptPrinterSimulator()
        await sim.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            w.write(b"\x1b@" + "合计 12.50\n".encode("gb18030") + b"\x10\x04\x04\x1dV\x00")
            got = await asyncio.wait_for(r.readexactly(1), 2)
            assert escpos.decode_status(4, got) == escpos.RealtimeStatus(4, 0)
            sim.paper_out = True
            w.write(b"\x10\x04\x04")
            status = escpos.decode_status(4, await asyncio.wait_for(r.readexactly(1), 2))
            assert isinstance(status, escpos.RealtimeStatus) and status.paper_end
            w.close()
            await asyncio.sleep(0.05)
            assert sim.receipts[0].lines == ["合计 12.50"] and sim.receipts[0].cut
        finally:
            await sim.stop()

    asyncio.run(main())
