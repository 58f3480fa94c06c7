"""ESC/POS receipt printer: real-time status (DLE EOT n) and a receipt stream decoder.

Rules come from the Epson *ESC/POS Application Programming Guide / Command
Reference* (TM series); section names are the command headings there.
Sans-I/O: bytes in, typed values out.

DLE EOT n ("Transmit real-time status"): the printer answers one byte at
once, even mid-job. Every answer byte has bits 1 and 4 set and bits 0 and 7
clear, which is how a host tells a status byte from other data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

ESC: Final = 0x1B
GS: Final = 0x1D
FS: Final = 0x1C
DLE: Final = 0x10
EOT: Final = 0x04

FIXED_MASK: Final = 0b1001_0011  # bits 7, 4, 1, 0
FIXED_VALUE: Final = 0b0001_0010  # bit 4 and bit 1 set

PRINTER: Final = 1  # n=1 printer status
OFFLINE: Final = 2  # n=2 offline cause
ERROR: Final = 3  # n=3 error cause
PAPER: Final = 4  # n=4 roll paper sensor


def status_request(n: int) -> bytes:
    if n not in (PRINTER, OFFLINE, ERROR, PAPER):
        raise ValueError(f"DLE EOT n takes n = 1..4, not {n}")
    return bytes((DLE, EOT, n))


@dataclass(frozen=True)
class RealtimeStatus:
    """One decoded DLE EOT answer; which flags mean something depends on ``n``.

    n=1: bit 3 offline, bit 2 drawer pin 3 high, bit 5 waiting for recovery,
    bit 6 feed button pressed.
    n=2: bit 2 cover open, bit 3 paper fed by button, bit 5 stopped by paper
    end, bit 6 error.
    n=3: bit 3 autocutter error, bit 5 unrecoverable, bit 6 auto-recoverable.
    n=4: bits 2+3 roll near end, bits 5+6 roll end (both bits of a pair set).
    """

    n: int
    bits: int  # the 4 variable bits 2, 3, 5, 6 as sent

    @property
    def offline(self) -> bool:
        return self.n == PRINTER and bool(self.bits & 0x08)

    @property
    def cover_open(self) -> bool:
        return self.n == OFFLINE and bool(self.bits & 0x04)

    @property
    def paper_end_stop(self) -> bool:
        return self.n == OFFLINE and bool(self.bits & 0x20)

    @property
    def error(self) -> bool:
        return self.n == OFFLINE and bool(self.bits & 0x40)

    @property
    def paper_near_end(self) -> bool:
        return self.n == PAPER and self.bits & 0x0C == 0x0C

    @property
    def paper_end(self) -> bool:
        return self.n == PAPER and self.bits & 0x60 == 0x60


def encode_status(status: RealtimeStatus) -> bytes:
    if status.bits & FIXED_MASK:
        raise ValueError("only bits 2, 3, 5 and 6 of a status byte are variable")
    return bytes((FIXED_VALUE | status.bits,))


def decode_status(n: int, data: bytes) -> RealtimeStatus | NeedData:
    """The answer to ``DLE EOT n``: one byte, checked against the fixed bits."""
    if not data:
        return NEED_DATA
    if len(data) > 1:
        raise RemoteProtocolError(f"DLE EOT {n} answer is one byte, got {len(data)}: {data!r}")
    b = data[0]
    if b & FIXED_MASK != FIXED_VALUE:
        raise RemoteProtocolError(
            f"0x{b:02X} is not an ESC/POS status byte (bits 1,4 must be 1 and bits 0,7 must be 0)"
        )
    return RealtimeStatus(n, b & ~FIXED_MASK & 0xFF)


# --- receipt stream (what the host sends) -----------------------------------


@dataclass(frozen=True)
class Text:
    """Printable bytes up to and including a LF, or a run without one yet complete."""

    data: bytes


@dataclass(frozen=True)
class Command:
    """A non-real-time command, e.g. ``ESC @`` or ``GS V 0``; ``raw`` is all its bytes."""

    name: str
    raw: bytes


@dataclass(frozen=True)
class StatusRequest:
    """``DLE EOT n``: the printer must answer one status byte now."""

    n: int


EscPosEvent = Text | Command | StatusRequest

# Fixed-length commands: (prefix, second byte) -> (name, parameter bytes).
# The set python-escpos emits for text receipts plus common neighbours.
_FIXED: Final[dict[tuple[int, int], tuple[str, int]]] = {
    (ESC, 0x40): ("ESC @ initialize", 0),
    (ESC, 0x21): ("ESC ! print mode", 1),
    (ESC, 0x45): ("ESC E bold", 1),
    (ESC, 0x47): ("ESC G double-strike", 1),
    (ESC, 0x2D): ("ESC - underline", 1),
    (ESC, 0x61): ("ESC a justification", 1),
    (ESC, 0x74): ("ESC t code table", 1),
    (ESC, 0x64): ("ESC d feed lines", 1),
    (ESC, 0x4A): ("ESC J feed dots", 1),
    (ESC, 0x4D): ("ESC M font", 1),
    (ESC, 0x32): ("ESC 2 default line spacing", 0),
    (ESC, 0x33): ("ESC 3 line spacing", 1),
    (ESC, 0x52): ("ESC R character set", 1),
    (ESC, 0x7B): ("ESC { upside down", 1),
    (ESC, 0x70): ("ESC p drawer pulse", 3),
    (GS, 0x21): ("GS ! character size", 1),
    (GS, 0x42): ("GS B reverse", 1),
    (GS, 0x48): ("GS H HRI position", 1),
    (GS, 0x66): ("GS f HRI font", 1),
    (GS, 0x68): ("GS h bar code height", 1),
    (GS, 0x77): ("GS w bar code width", 1),
    (FS, 0x26): ("FS & kanji mode on", 0),
    (FS, 0x2E): ("FS . kanji mode off", 0),
    (FS, 0x43): ("FS C kanji code system", 1),
}


class EscPosStreamDecoder:
    """Printer side: split a receipt job into text, commands and status requests."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> EscPosEvent | NeedData:
        buf = self._buf
        if not buf:
            return NEED_DATA
        b0 = buf[0]
        if b0 >= 0x20 or b0 in (0x0A, 0x0D, 0x09):
            end = 0
            while end < len(buf) and (buf[end] >= 0x20 or buf[end] in (0x0D, 0x09)):
                end += 1
            if end < len(buf) and buf[end] == 0x0A:
                end += 1
            elif end == len(buf):
                return NEED_DATA  # a line is whole only at its LF
            return self._take(end, Text)
        if len(buf) < 2:
            return NEED_DATA
        b1 = buf[1]
        if b0 == DLE:
            if b1 != EOT:
                raise RemoteProtocolError(f"DLE 0x{b1:02X}: only DLE EOT n is supported")
            if len(buf) < 3:
                return NEED_DATA
            if buf[2] not in (1, 2, 3, 4):
                raise RemoteProtocolError(f"DLE EOT {buf[2]}: n must be 1..4")
            n = buf[2]
            return self._take(3, lambda raw: StatusRequest(n))
        if b0 == GS and b1 == 0x56:  # GS V m [n]: cut
            if len(buf) < 3:
                return NEED_DATA
            m = buf[2]
            if m in (0, 1, 48, 49):
                size = 3
            elif m in (65, 66, 97, 98, 103, 104):
                size = 4
            else:
                raise RemoteProtocolError(f"GS V {m}: unknown cut mode")
            return self._fixed("GS V cut", size)
        spec = _FIXED.get((b0, b1))
        if spec is None:
            raise RemoteProtocolError(f"unknown ESC/POS command 0x{b0:02X} 0x{b1:02X}")
        return self._fixed(spec[0], 2 + spec[1])

    def _fixed(self, name: str, size: int) -> EscPosEvent | NeedData:
        if len(self._buf) < size:
            return NEED_DATA
        return self._take(size, lambda raw: Command(name, raw))

    def _take(self, size: int, make: Callable[[bytes], EscPosEvent]) -> EscPosEvent:
        raw = bytes(self._buf[:size])
        del self._buf[:size]
        return make(raw)
