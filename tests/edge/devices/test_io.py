"""The line-port scanner with real sockets, and the drivers' reconnect backoff."""

from __future__ import annotations

import asyncio

from edge.devices.scanner import MAX_LINE, LineScanner, ScanInput
from protocol.backoff import Backoff


def test_line_scanner_handles_bad_input_and_keeps_running() -> None:
    got: list[ScanInput] = []

    async def main() -> None:
        async def on_scan(s: ScanInput) -> None:
            got.append(s)

        sc = LineScanner("127.0.0.1", 0, on_scan)
        port = await sc.start()
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"6901234567892\r\n\r\n")  # CR LF suffix; an empty line is ignored
        w.write(b"\xff\xfe\r\n")  # not UTF-8
        w.write(b"9" * (MAX_LINE * 3) + b"\n")  # 12 KB with its terminator far away
        w.write(b"after\n")
        await w.drain()
        for _ in range(200):
            if len(got) >= 4:
                break
            await asyncio.sleep(0.01)
        w.close()
        await sc.stop()

    asyncio.run(main())
    assert got[0] == ScanInput("6901234567892")
    assert got[1] == ScanInput(None, "bytes are not UTF-8")
    assert got[2].error == f"no line terminator within {MAX_LINE} bytes"
    assert got[3] == ScanInput("after")  # the port still works
    assert len(got) == 4


def test_backoff_is_capped_and_jittered() -> None:
    b = Backoff(lambda: 1.0, base=0.1, cap=2.0)
    delays = [b.next_delay() for _ in range(10)]
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert max(delays) == 2.0
    b.reset()
    assert Backoff(lambda: 0.5, base=0.1, cap=2.0).next_delay() == 0.05
