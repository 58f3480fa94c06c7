"""Mettler Toledo "continuous output" (the Toledo standard format), sans-I/O.

Source: the continuous-output appendix of the Mettler Toledo terminal manuals
(e.g. IND560/IND780 Technical Manual "Continuous Output", Wildcat Technical
Manual appendix 2 "Continuous Mode Output", tables 6-8 to 6-11). The terminal
sends, several times a second and unprompted::

    STX SWA SWB SWC  w w w w w w  t t t t t t  CR  [CHK]
     1   2   3   4   5 ........ 10 11 ...... 16  17   18

* Displayed weight (gross or net) and tare: six digits each, no decimal
  point, no sign; non-significant leading zeros are sent as spaces.
* Status word A: bits 0-2 decimal point or dummy zeros, bits 3-4 increment
  size (x1, x2, x5), bit 5 always 1.
* Status word B: bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion,
  bit 4 kg (else lb), bit 5 always 1, bit 6 power-up not yet zeroed.
* Status word C: bits 0-2 unit override (grams, metric tons, ...), bit 3
  print request, bit 4 expanded display, bit 5 always 1.
* Bit 7 of every byte is the parity bit when the port runs 7 data bits; it is
  masked off here so 7E1 and 8N1 wiring both decode.
* Optional checksum: the two's complement of the seven low-order bits of the
  binary sum of all preceding characters, STX and CR included; so the 7-bit
  sum of the whole frame, checksum included, is zero.

Whether a checksum follows CR is a terminal setting, not visible on the wire
(the checksum itself may even be 0x02), so the decoder is told. It
resynchronises on STX: noise before an STX, or a frame that breaks a rule,
raises :class:`RemoteProtocolError` after the bad bytes have been dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

STX: Final = 0x02
CR: Final = 0x0D
#: STX + 3 status words + 6 weight digits + 6 tare digits + CR.
FRAME_LEN: Final = 17
_DIGITS: Final = 6
_MAX_COUNT: Final = 10**_DIGITS - 1
# Status A bits 0-2, read as a number: 0 -> "XXXX00" (two dummy zeros),
# 1 -> "XXXXX0", 2 -> "XXXXXX", 3 -> "XXXXX.X" ... 7 -> "X.XXXXX".
# decimal_places = code - 2, so negative values are dummy zeros.
_MIN_PLACES: Final = -2
_MAX_PLACES: Final = 5
# Status A bits 3-4 (bit 3 is the low bit): 1 -> x1, 2 -> x2, 3 -> x5.
_INCREMENTS: Final = {1: 1, 2: 2, 3: 5}
_INCREMENT_CODES: Final = {v: k for k, v in _INCREMENTS.items()}
# Status C bits 0-2; 0 means "lb or kg as status B bit 4 says".
_UNIT_CODES: Final = {1: "g", 2: "t", 3: "oz", 4: "ozt", 5: "dwt", 6: "ton", 7: "custom"}
_CODE_FOR_UNIT: Final = {v: k for k, v in _UNIT_CODES.items()}
UNITS: Final = frozenset({"lb", "kg", *_UNIT_CODES.values()})
_ALWAYS_ONE: Final = 0x20  # bit 5 of SWA, SWB and SWC


@dataclass(frozen=True)
class ToledoFrame:
    """One continuous-output frame, decoded.

    ``weight`` is signed (status B bit 1); ``tare`` is never negative.
    ``decimal_places`` is -2..5: negative means that many dummy zeros.
    """

    weight: Decimal
    tare: Decimal
    unit: str
    decimal_places: int
    motion: bool = False
    net: bool = False
    out_of_range: bool = False
    power_up: bool = False
    increment: int = 1
    print_request: bool = False
    expanded: bool = False


def checksum(data: bytes) -> int:
    """Two's complement of the 7 low-order bits of the byte sum."""
    return -sum(data) & 0x7F


def _check_status(pos: int, byte: int) -> None:
    if not byte & _ALWAYS_ONE:
        word = "ABC"[pos - 1]
        raise RemoteProtocolError(
            f"Toledo status word {word} is 0x{byte:02x}: bit 5 must always be 1"
        )
    if pos == 1 and (byte >> 3) & 0x03 == 0:
        raise RemoteProtocolError(
            f"Toledo status word A is 0x{byte:02x}: increment size bits 3-4 are 00"
        )


def _check_digits(field: bytes, name: str) -> None:
    text = field.decode("ascii")
    digits = text.lstrip(" ")
    if not digits.isdigit():
        raise RemoteProtocolError(
            f"Toledo {name} field {text!r} is not six digits (leading spaces allowed)"
        )


def _check_partial(frame: bytes) -> None:
    """Validate what has arrived of a frame so a broken one is dropped early."""
    for pos in range(1, min(len(frame), FRAME_LEN)):
        byte = frame[pos] & 0x7F
        if pos <= 3:
            _check_status(pos, byte)
        elif pos < FRAME_LEN - 1:
            if byte != 0x20 and not 0x30 <= byte <= 0x39:
                name = "weight" if pos < 10 else "tare"
                raise RemoteProtocolError(
                    f"Toledo frame byte {pos + 1} is 0x{frame[pos]:02x}: "
                    f"the {name} field holds only digits and spaces"
                )
        elif byte != CR:
            raise RemoteProtocolError(
                f"Toledo frame byte {FRAME_LEN} is 0x{frame[pos]:02x}, expected CR"
            )


def parse_frame(frame: bytes, with_checksum: bool = True) -> ToledoFrame:
    """Parse exactly one frame (STX..CR plus the checksum byte if configured)."""
    expected = FRAME_LEN + (1 if with_checksum else 0)
    if len(frame) != expected or frame[0] != STX:
        raise RemoteProtocolError(f"Toledo frame must be {expected} bytes starting with STX")
    _check_partial(frame)
    if with_checksum and (sum(frame) & 0x7F) != 0:
        raise RemoteProtocolError(
            f"Toledo checksum 0x{frame[-1]:02x} is wrong, expected 0x{checksum(frame[:-1]):02x}"
        )
    # Bit 7 is parity on 7-bit links; the checksum rule above ignores it too.
    data = bytes(b & 0x7F for b in frame)
    swa, swb, swc = data[1:4]
    weight_field, tare_field = data[4:10], data[10:16]
    _check_digits(weight_field, "weight")
    _check_digits(tare_field, "tare")
    places = (swa & 0x07) - 2
    increment = _INCREMENTS[(swa >> 3) & 0x03]
    unit_code = swc & 0x07
    unit = _UNIT_CODES.get(unit_code) or ("kg" if swb & 0x10 else "lb")
    scale = Decimal(1).scaleb(-places)
    weight = int(weight_field) * scale
    if swb & 0x02:
        weight = -weight
    return ToledoFrame(
        weight=weight,
        tare=int(tare_field) * scale,
        unit=unit,
        decimal_places=places,
        motion=bool(swb & 0x08),
        net=bool(swb & 0x01),
        out_of_range=bool(swb & 0x04),
        power_up=bool(swb & 0x40),
        increment=increment,
        print_request=bool(swc & 0x08),
        expanded=bool(swc & 0x10),
    )


class ToledoDecoder:
    """Stream decoder: ``feed(bytes)``, then ``next_message()`` until NEED_DATA."""

    def __init__(self, with_checksum: bool = True) -> None:
        self.with_checksum = with_checksum
        self.frame_len = FRAME_LEN + (1 if with_checksum else 0)
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> ToledoFrame | NeedData:
        start = self._buf.find(STX)
        if start < 0:
            dropped = len(self._buf)
            self._buf.clear()
            if dropped:
                raise RemoteProtocolError(f"{dropped} bytes of noise on the line, no STX")
            return NEED_DATA
        if start > 0:
            del self._buf[:start]
            raise RemoteProtocolError(f"skipped {start} bytes of noise before STX")
        try:
            _check_partial(bytes(self._buf[: self.frame_len]))
            if len(self._buf) < self.frame_len:
                return NEED_DATA
            frame = parse_frame(bytes(self._buf[: self.frame_len]), self.with_checksum)
        except RemoteProtocolError:
            # Drop this STX only: the next frame may start inside the bad one.
            del self._buf[:1]
            raise
        del self._buf[: self.frame_len]
        return frame


def _field(count: int) -> bytes:
    return str(count).rjust(_DIGITS).encode("ascii")


def encode_frame(frame: ToledoFrame, with_checksum: bool = True) -> bytes:
    """Encode a frame; raise ValueError if it cannot be expressed in the format."""
    places = frame.decimal_places
    if not _MIN_PLACES <= places <= _MAX_PLACES:
        raise ValueError(f"decimal_places {places} outside {_MIN_PLACES}..{_MAX_PLACES}")
    if frame.increment not in _INCREMENT_CODES:
        raise ValueError(f"increment {frame.increment} is not 1, 2 or 5")
    if frame.unit not in UNITS:
        raise ValueError(f"unit {frame.unit!r} is not one of {sorted(UNITS)}")
    counts = []
    for name, value in (("weight", abs(frame.weight)), ("tare", frame.tare)):
        count = value.scaleb(places)
        if count != count.to_integral_value() or not 0 <= count <= _MAX_COUNT:
            raise ValueError(f"{name} {value} does not fit six digits at {places} places")
        counts.append(int(count))
    swa = _ALWAYS_ONE | (places + 2) | (_INCREMENT_CODES[frame.increment] << 3)
    swb = (
        _ALWAYS_ONE
        | (0x01 if frame.net else 0)
        | (0x02 if frame.weight < 0 else 0)
        | (0x04 if frame.out_of_range else 0)
        | (0x08 if frame.motion else 0)
        | (0x10 if frame.unit == "kg" else 0)
        | (0x40 if frame.power_up else 0)
    )
    swc = (
        _ALWAYS_ONE
        | _CODE_FOR_UNIT.get(frame.unit, 0)
        | (0x08 if frame.print_request else 0)
        | (0x10 if frame.expanded else 0)
    )
    body = bytes([STX, swa, swb, swc]) + _field(counts[0]) + _field(counts[1]) + bytes([CR])
    return body + bytes([checksum(body)]) if with_checksum else body
