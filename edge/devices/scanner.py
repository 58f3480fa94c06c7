"""Line-port scanner input: a TCP port that takes one barcode per line.

This is the input tests and the scanner simulator use, and the shape a
serial-to-TCP bridge or a scanner in "TCP client" mode produces. Lines end in
CR, LF or CR LF: scanners ship with a CR suffix as often as CR LF (Honeywell's and
Zebra's default "suffix" settings differ by model), and a CR-only scanner lost every
scan when only LF ended a line (issue 19, finding 5). Empty lines are skipped, so the
LF of a CR LF is nothing. A line longer than :data:`MAX_LINE` without a terminator is
discarded with a clear error: a jammed trigger must not eat the node's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("guanjia.edge.scanner")

MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class ScanInput:
    text: str | None  # None when the line could not be read
    error: str | None = None


class LineScanner:
    def __init__(
        self, host: str, port: int, on_scan: Callable[[ScanInput], Awaitable[None]]
    ) -> None:
        self.host = host
        self.port = port
        self._on_scan = on_scan
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_LINE
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and end every open connection before returning.

        ``Server.wait_closed`` leaves open connections running before Python 3.12.1, so a
        scan arriving during shutdown met a closed store ("Cannot operate on a closed
        database", found by ``guanjia chaos broker-restarts``). Cancelling lands at the
        connection's next read: a scan in hand is committed and shown or not started.
        """
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = LineSplitter()
        me = asyncio.current_task()
        if me is not None:
            self._clients.add(me)
        try:
            while chunk := await reader.read(MAX_LINE):
                for item in lines.feed(chunk):
                    try:
                        await self._on_scan(item)
                    except Exception:
                        # One scan's failure (a bug, a store fault the runtime missed) must
                        # not hang up on the scanner and lose the scans behind it.
                        log.exception("scan handler failed; the connection stays open")
                    # A scan's step never waits (its commit is synchronous) and read() returns
                    # at once while bytes are buffered: without this a burst of lines held the
                    # loop, the systemd keep-alives 41 s apart and other scanners 13.8 s
                    # (issue 19, finding 4). One yield per scan keeps every task's pace.
                    await asyncio.sleep(0)
            # peer closed; a partial last line without terminator is dropped
        except ConnectionError as err:
            log.warning("scanner connection lost: %s", err)
        finally:
            self._clients.discard(me)
            writer.close()


class LineSplitter:
    """Bytes in, scans out (sans-I/O): lines end at CR, LF or CR LF; empty ones are skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False  # inside an overlong line, until its terminator

    def feed(self, data: bytes) -> list[ScanInput]:
        out: list[ScanInput] = []
        self._buf += data
        while True:
            cut = min(
                (i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0), default=-1
            )
            if cut < 0:
                if len(self._buf) > MAX_LINE:
                    if not self._discarding:
                        out.append(ScanInput(None, f"no line terminator within {MAX_LINE} bytes"))
                    self._discarding = True
                    self._buf.clear()
                return out
            line, self._buf = bytes(self._buf[:cut]), self._buf[cut + 1 :]
            if self._discarding:
                self._discarding = False  # the tail of the overlong line
                continue
            if len(line) > MAX_LINE:
                out.append(ScanInput(None, f"no line terminator within {MAX_LINE} bytes"))
            elif line:
                try:
                    out.append(ScanInput(line.decode("utf-8")))
                except UnicodeDecodeError:
                    out.append(ScanInput(None, "bytes are not UTF-8"))
