"""The line-port scanner with real sockets, and the drivers' reconnect backoff."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.devices.scanner import MAX_LINE, LineScanner, LineSplitter, ScanInput
from protocol.backoff import Backoff


def _scans_through_a_socket(data: bytes, expected: int) -> list[ScanInput]:
    got: list[ScanInput] = []

    async def main() -> None:
        async def on_scan(s: ScanInput) -> None:
            got.append(s)

        sc = LineScanner("127.0.0.1", 0, on_scan)
        port = await sc.start()
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(data)
        await w.drain()
        for _ in range(300):
            if len(got) >= expected:
                break
            await asyncio.sleep(0.01)
        w.close()
        await sc.stop()

    asyncio.run(main())
    return got


def test_line_scanner_handles_bad_input_and_keeps_running() -> None:
    got = _scans_through_a_socket(
        b"6901234567892\r\n\r\n"  # CR LF suffix; an empty line is ignored
        + b"\xff\xfe\r\n"  # not UTF-8
        + b"9" * (MAX_LINE * 3)
        + b"\n"  # 12 KB with its terminator far away
        + b"after\n",
        4,
    )
    assert got[0] == ScanInput("6901234567892")
    assert got[1] == ScanInput(None, "bytes are not UTF-8")
    assert got[2].error == f"no line terminator within {MAX_LINE} bytes"
    assert got[3] == ScanInput("after")  # the port still works
    assert len(got) == 4


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_every_line_ending_a_scanner_may_send_is_a_scan(ending: bytes) -> None:
    """A scanner set to a CR suffix lost every scan when only LF ended a line (issue 19,
    finding 5: 600 scans, 0 committed)."""
    codes = [f"690123456{i:04d}" for i in range(600)]
    got = _scans_through_a_socket(b"".join(c.encode() + ending for c in codes), len(codes))
    assert [s.text for s in got] == codes


@given(
    codes=st.lists(st.from_regex(r"[0-9A-Z]{1,20}", fullmatch=True), min_size=1, max_size=20),
    endings=st.lists(st.sampled_from([b"\r", b"\n", b"\r\n"]), min_size=20, max_size=20),
    cuts=st.lists(st.integers(0, 500), max_size=10),
)
def test_lines_split_the_same_however_the_bytes_arrive(
    codes: list[str], endings: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(c.encode() + e for c, e in zip(codes, endings, strict=False))
    splitter, got = LineSplitter(), []
    start = 0
    for cut in [*sorted(c for c in cuts if c < len(data)), len(data)]:
        got += splitter.feed(data[start:cut])
        start = max(start, cut)
    assert [s.text for s in got] == codes


def test_an_overlong_line_is_one_error_then_lines_flow() -> None:
    splitter = LineSplitter()
    out = []
    for _ in range(5):  # 20 KB with no terminator, in pieces
        out += splitter.feed(b"7" * MAX_LINE)
    out += splitter.feed(b"777\rnext\r")
    assert out == [
        ScanInput(None, f"no line terminator within {MAX_LINE} bytes"),
        ScanInput("next"),
    ]


def test_backoff_is_capped_and_jittered() -> None:
    b = Backoff(lambda: 1.0, base=0.1, cap=2.0)
    delays = [b.next_delay() for _ in range(10)]
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert max(delays) == 2.0
    b.reset()
    assert Backoff(lambda: 0.5, base=0.1, cap=2.0).next_delay() == 0.05


def test_stopping_the_scanner_ends_open_connections_before_it_returns() -> None:
    """A scan after stop() must not reach the handler (the store is closed next): found by
    ``guanjia chaos broker-restarts`` as "Cannot operate on a closed database"."""
    got: list[ScanInput] = []

    async def main() -> None:
        async def on_scan(s: ScanInput) -> None:
            got.append(s)

        sc = LineScanner("127.0.0.1", 0, on_scan)
        port = await sc.start()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"before\r")
        await w.drain()
        for _ in range(300):
            if got:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(sc.stop(), 5)
        assert await asyncio.wait_for(r.read(), 5) == b""  # the node hung up
        with contextlib.suppress(ConnectionError):
            w.write(b"after\r")
            await w.drain()
        await asyncio.sleep(0.2)
        w.close()

    asyncio.run(main())
    assert got == [ScanInput("before")]
