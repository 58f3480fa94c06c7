"""~HQES and ~HI on the ZPL printer simulator, as real Zebra drivers ask them (issue 19, finding 8).

Raw sockets on 127.0.0.1. "One write" is checked as the whole answer arriving in the
first read; a client that sends a bare ``~HQES`` (no terminator after it) is answered.
"""

from __future__ import annotations

import asyncio

from protocol.devices import zpl, zpl_query
from simulators.devices.printer import LabelPrinterSimulator


async def _ask(port: int, request: bytes) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        w.write(request)
        await w.drain()
        return await asyncio.wait_for(r.read(4096), 2)  # one read: the whole answer
    finally:
        w.close()


def test_hqes_reports_errors_and_warnings_in_one_write() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            answer = await _ask(sim.port, b"~HQES")
            dec = zpl_query.HostQueryDecoder()
            dec.feed(answer)
            assert dec.next_message() == zpl_query.HostQueryStatus(0, 0)
            assert answer.startswith(b"\x02") and answer.endswith(b"\x03\r\n")

            sim.set_state(cutter_fault=True, paper_out=True, paper_near_end=True)
            dec = zpl_query.HostQueryDecoder()
            dec.feed(await _ask(sim.port, b"~hqes"))  # the printer takes either case
            status = dec.next_message()
            assert isinstance(status, zpl_query.HostQueryStatus)
            assert status.problems() == ["paper out", "cutter fault"]
            assert status.warning_words() == ["paper near end"]

            # Mid-format, a tilde command is answered at once (guide, "Control Commands").
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            w.write(b"^XA^FO10,10^FDhalf~HQES")
            await w.drain()
            dec = zpl_query.HostQueryDecoder()
            dec.feed(await asyncio.wait_for(r.read(4096), 2))
            assert isinstance(dec.next_message(), zpl_query.HostQueryStatus)
            w.close()

    asyncio.run(main())


def test_hi_identifies_the_printer_and_hs_still_answers_between() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            ident = zpl_query.decode_host_identification(await _ask(sim.port, b"~HI"))
            assert ident == sim.identity
            assert isinstance(ident, zpl_query.HostIdentification) and ident.dots_per_mm == 8

            # ~HS then ~HQES in one write: two answers, in order, neither cut.
            data = await _ask(sim.port, b"~HS~HQES")
            hs = zpl.HostStatusDecoder()
            hs.feed(data)
            for _ in range(20):  # the second answer may trail the first on a busy machine
                if isinstance(hs.next_message(), zpl.HostStatus):
                    break
            hq = zpl_query.HostQueryDecoder()
            hq.feed(hs.pending())
            assert isinstance(hq.next_message(), zpl_query.HostQueryStatus)

    asyncio.run(main())


def test_a_printer_without_hq_ignores_it_and_stays_usable() -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.hq_supported = False
            r, w = await asyncio.open_connection("127.0.0.1", sim.port)
            w.write(b"~HQES")  # unanswered, as by a printer older than ~HQ
            w.write(b"~HS")
            await w.drain()
            dec = zpl.HostStatusDecoder()
            dec.feed(await asyncio.wait_for(r.read(4096), 2))  # only the ~HS answer
            assert isinstance(dec.next_message(), zpl.HostStatus)
            assert dec.pending() == b""
            w.close()

    asyncio.run(main())
