"""ZPL II host queries beyond ``~HS``: ``~HQES`` (error and warning flags) and ``~HI``.

What real Zebra drivers ask besides ``~HS`` (issue 19, finding 8), from the ZPL II
Programming Guide:

* ``~HQES`` ("~HQ Host Query", query type ``ES``, printer status): the printer answers
  one block framed by STX ... ETX: a "PRINTER STATUS" line, then an ``ERRORS:`` and a
  ``WARNINGS:`` line, each ``f gggggggg hhhhhhhh``: ``f`` 1 when any flag is set, then
  two groups of eight hexadecimal nibbles (group 2, nibbles 16-9; group 1, nibbles 8-1)
  whose bits name the conditions. Group 1 carries everything this module names: the
  guide's error table puts media out, ribbon out, head open and cutter fault in nibble 1
  (bits 1, 2, 4, 8), printhead over temperature, motor over temperature, bad printhead
  element and printhead detection error in nibble 2, invalid firmware configuration and
  printhead thermistor open in nibble 3; its warning table puts need to calibrate media,
  clean printhead, replace printhead and paper near end in nibble 1 (bits 1, 2, 4, 8;
  nibbles 2-3 are the KR403's sensors). There is no "ribbon near end" warning. Unnamed
  bits are kept and reported by value.
* ``~HI`` ("Host Identification"): ``model,version,dots/mm,memoryKB,options``, here
  framed STX ... ETX CR LF like every other answer of the printer.

More than ``~HS``: a cutter fault, an overheated motor or a missing printhead stop a
print but have no ``~HS`` flag, and the warnings (paper near end) come before the
fault. ``~HS`` still says what ``~HQES`` does not (paused, buffer full, partial format).

Sans-I/O: encoders for the simulator, decoders for the driver, both pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

STX: Final = 0x02
ETX: Final = 0x03
#: The request bytes (the query type is two letters, so nothing needs to end it).
HQES_REQUEST: Final = b"~HQES"
HI_REQUEST: Final = b"~HI"
#: An answer longer than this without its ETX is not one.
_MAX_ANSWER: Final = 512

# Error flags, group 1: the same guide, ~WQ, Table 10 "Error Flags (~WQES)" (checked).
MEDIA_OUT: Final = 0x1
RIBBON_OUT: Final = 0x2
HEAD_OPEN: Final = 0x4
CUTTER_FAULT: Final = 0x8
PRINTHEAD_OVER_TEMPERATURE: Final = 0x10
MOTOR_OVER_TEMPERATURE: Final = 0x20
BAD_PRINTHEAD_ELEMENT: Final = 0x40
PRINTHEAD_DETECTION_ERROR: Final = 0x80
INVALID_FIRMWARE_CONFIG: Final = 0x100
PRINTHEAD_THERMISTOR_OPEN: Final = 0x200
# Warning flags, group 1: ZPL Programming Guide, ~WQ, Table 11 "Warning Flags (~WQES)"
# (the ~HQES flags; https://docs.zebra.com/us/en/printers/software/zpl-pg/zpl-pg/
# c-zpl-zpl-commands/r-zpl-wq.html), nibble 1: 8 paper-near-end sensor, 4 replace
# printhead, 2 clean printhead, 1 need to calibrate media. These were 0x1 paper near end,
# 0x2 "ribbon near end" (no such flag), 0x4, 0x8 clean printhead, 0x10 calibrate: a real
# printer's paper-near-end warning (8) read as "clean printhead" (issue 19).
NEED_TO_CALIBRATE_MEDIA: Final = 0x1
CLEAN_PRINTHEAD: Final = 0x2
REPLACE_PRINTHEAD: Final = 0x4
PAPER_NEAR_END: Final = 0x8

_ERROR_WORDS: Final = (
    (MEDIA_OUT, "paper out"),
    (RIBBON_OUT, "ribbon out"),
    (HEAD_OPEN, "head open"),
    (CUTTER_FAULT, "cutter fault"),
    (PRINTHEAD_OVER_TEMPERATURE, "head over temperature"),
    (MOTOR_OVER_TEMPERATURE, "motor over temperature"),
    (BAD_PRINTHEAD_ELEMENT, "bad printhead element"),
    (PRINTHEAD_DETECTION_ERROR, "printhead not detected"),
    (INVALID_FIRMWARE_CONFIG, "invalid firmware configuration"),
    (PRINTHEAD_THERMISTOR_OPEN, "printhead thermistor open"),
)
_WARNING_WORDS: Final = (
    (NEED_TO_CALIBRATE_MEDIA, "media needs calibration"),
    (CLEAN_PRINTHEAD, "clean printhead"),
    (REPLACE_PRINTHEAD, "replace printhead"),
    (PAPER_NEAR_END, "paper near end"),
)
_GROUP_MASK: Final = 0xFFFF_FFFF


def _words(bits: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    out = [words for bit, words in table if bits & bit]
    rest = bits & ~sum(bit for bit, _ in table)
    if rest:
        out.append(f"flags 0x{rest:x}")
    return out


@dataclass(frozen=True)
class HostQueryStatus:
    """The ``~HQES`` answer: error and warning flags (group 2 << 32 | group 1)."""

    errors: int = 0
    warnings: int = 0

    def problems(self) -> list[str]:
        """The errors, in words (each stops printing)."""
        return _words(self.errors, _ERROR_WORDS)

    def warning_words(self) -> list[str]:
        """The warnings, in words (printing goes on; someone should look)."""
        return _words(self.warnings, _WARNING_WORDS)


def _flags_line(label: str, bits: int) -> bytes:
    return (
        f"   {label:<16}{1 if bits else 0} "
        f"{(bits >> 32) & _GROUP_MASK:08X} {bits & _GROUP_MASK:08X}\r\n"
    ).encode("ascii")


def encode_host_query_status(s: HostQueryStatus) -> bytes:
    """The ``~HQES`` answer, one block (a printer sends it in one piece)."""
    return (
        b"\x02\r\n  PRINTER STATUS\r\n"
        + _flags_line("ERRORS:", s.errors)
        + _flags_line("WARNINGS:", s.warnings)
        + b"\x03\r\n"
    )


def _framed(buf: bytearray, what: str) -> tuple[str, int] | NeedData:
    """The text between STX and ETX at the start of ``buf`` and where it ends."""
    pos = 0
    while pos < len(buf) and buf[pos] in b"\r\n":
        pos += 1
    if pos >= len(buf):
        return NEED_DATA
    if buf[pos] != STX:
        raise RemoteProtocolError(
            f"{what} answer must start with STX (0x02), got {bytes(buf[pos : pos + 8])!r}"
        )
    end = buf.find(ETX, pos + 1)
    if end < 0:
        if len(buf) - pos > _MAX_ANSWER:
            raise RemoteProtocolError(f"{what} answer has no ETX within {_MAX_ANSWER} bytes")
        return NEED_DATA
    body = bytes(buf[pos + 1 : end])
    if not all(0x20 <= x < 0x7F or x in b"\r\n" for x in body):
        raise RemoteProtocolError(f"{what} answer holds non-ASCII bytes {body!r}")
    end += 1
    while end < len(buf) and buf[end] in b"\r\n":
        end += 1
    return body.decode("ascii"), end


def _flags(line: str, label: str) -> int:
    parts = line.split()
    if len(parts) != 4 or parts[0] != label:
        raise RemoteProtocolError(f"~HQES line {line.strip()!r} is not '{label} f group2 group1'")
    flag, group2, group1 = parts[1:]
    if flag not in ("0", "1"):
        raise RemoteProtocolError(f"~HQES {label} flag {flag!r} is not 0 or 1")
    try:
        if len(group2) != 8 or len(group1) != 8:
            raise ValueError("eight nibbles each")
        bits = int(group2, 16) << 32 | int(group1, 16)
    except ValueError:
        raise RemoteProtocolError(
            f"~HQES {label} groups {group2!r} {group1!r} are not eight hex digits each"
        ) from None
    if (flag == "1") != (bits != 0):
        raise RemoteProtocolError(f"~HQES {label} flag {flag} contradicts its groups")
    return bits


class HostQueryDecoder:
    """Host side of ``~HQES``: feed bytes, ``next_message()`` -> status or NEED_DATA."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> HostQueryStatus | NeedData:
        framed = _framed(self._buf, "~HQES")
        if isinstance(framed, NeedData):
            return framed
        body, end = framed
        lines = [ln for ln in body.replace("\r", "").split("\n") if ln.strip()]
        if len(lines) != 3 or lines[0].strip() != "PRINTER STATUS":
            raise RemoteProtocolError(f"~HQES answer is not a PRINTER STATUS block: {body!r}")
        status = HostQueryStatus(_flags(lines[1], "ERRORS:"), _flags(lines[2], "WARNINGS:"))
        del self._buf[:end]
        return status


@dataclass(frozen=True)
class HostIdentification:
    """The ``~HI`` answer: model, firmware version, dots per mm, memory, options."""

    model: str
    version: str
    dots_per_mm: int
    memory_kb: int
    options: str = ""


def encode_host_identification(h: HostIdentification) -> bytes:
    body = f"{h.model},{h.version},{h.dots_per_mm},{h.memory_kb}KB,{h.options}"
    return b"\x02" + body.encode("ascii") + b"\x03\r\n"


def decode_host_identification(data: bytes) -> HostIdentification | NeedData:
    framed = _framed(bytearray(data), "~HI")
    if isinstance(framed, NeedData):
        return framed
    parts = framed[0].split(",")
    if len(parts) < 4 or not parts[2].isdigit() or not parts[3].upper().endswith("KB"):
        raise RemoteProtocolError(f"~HI answer {framed[0]!r} is not model,version,dpm,memKB,...")
    memory = parts[3][:-2]
    if not memory.isdigit():
        raise RemoteProtocolError(f"~HI memory {parts[3]!r} is not a number of KB")
    return HostIdentification(parts[0], parts[1], int(parts[2]), int(memory), ",".join(parts[4:]))
