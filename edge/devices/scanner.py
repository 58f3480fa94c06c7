"""Line-port scanner input: a TCP port that takes one barcode per line.

This is the input tests and the scanner simulator use, and the shape a
serial-to-TCP bridge or a scanner in "TCP client" mode produces. Lines end in
LF or CR LF (scanners are usually set to send a CR suffix; we accept both).
A line longer than :data:`MAX_LINE` without a terminator is discarded with a
clear error: a jammed trigger must not eat the node's memory.
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

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_LINE
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break  # peer closed; a partial last line without terminator is dropped
                except asyncio.LimitOverrunError:
                    await self._discard_overlong(reader)
                    await self._on_scan(
                        ScanInput(None, f"no line terminator within {MAX_LINE} bytes")
                    )
                    continue
                line = raw.rstrip(b"\r\n")
                if not line:
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    await self._on_scan(ScanInput(None, "bytes are not UTF-8"))
                    continue
                await self._on_scan(ScanInput(text))
        except ConnectionError as err:
            log.warning("scanner connection lost: %s", err)
        finally:
            writer.close()

    @staticmethod
    async def _discard_overlong(reader: asyncio.StreamReader) -> None:
        while True:
            try:
                await reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as err:
                await reader.readexactly(err.consumed)
            except asyncio.IncompleteReadError:
                return
