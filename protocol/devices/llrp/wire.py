"""Bounded byte cursor and TLV/TV parameter framing (LLRP 1.0.1 §4.1.2, §4.1.3).

Every read is checked against the end of the enclosing message or parameter,
so a lying length raises :class:`RemoteProtocolError` instead of reading the
next parameter's bytes or an ``IndexError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from protocol.devices.llrp.constants import TV_SIZES
from protocol.errors import RemoteProtocolError

_U16 = struct.Struct("!H")
_S16 = struct.Struct("!h")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_TLV_HEADER = struct.Struct("!HH")


class Cursor:
    """Reads big-endian fields between ``pos`` and ``end`` of ``data``."""

    __slots__ = ("data", "end", "pos", "where")

    def __init__(self, data: bytes, pos: int, end: int, where: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.where = where

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.end:
            raise RemoteProtocolError(
                f"{self.where}: {what} needs {n} bytes but only {self.end - self.pos} are left"
            )

    def u8(self, what: str) -> int:
        self.need(1, what)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def s8(self, what: str) -> int:
        v = self.u8(what)
        return v - 256 if v > 127 else v

    def u16(self, what: str) -> int:
        self.need(2, what)
        (v,) = _U16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def s16(self, what: str) -> int:
        self.need(2, what)
        (v,) = _S16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def u64(self, what: str) -> int:
        self.need(8, what)
        (v,) = _U64.unpack_from(self.data, self.pos)
        self.pos += 8
        return int(v)

    def raw(self, n: int, what: str) -> bytes:
        self.need(n, what)
        v = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return v

    def utf8v(self, what: str) -> str:
        """A u16 byte count then UTF-8 text (§4.1.1 'utf8v')."""
        raw = self.raw(self.u16(what + " length"), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RemoteProtocolError(f"{self.where}: {what} is not UTF-8 ({err})") from err

    def u32v(self, what: str) -> tuple[int, ...]:
        count = self.u16(what + " count")
        return tuple(self.u32(what) for _ in range(count))

    def params(self) -> Iterator[tuple[int, Cursor]]:
        """Yield ``(type, cursor over its body)`` for every parameter left.

        TV parameters (first bit set) have fixed sizes; TLV parameters carry
        their length, so unknown and custom (1023) ones are skipped by it.
        """
        data, end = self.data, self.end
        while self.pos < end:
            pos = self.pos
            first = data[pos]
            if first & 0x80:
                ptype = first & 0x7F
                size = TV_SIZES.get(ptype)
                if size is None:
                    raise RemoteProtocolError(
                        f"{self.where}: unknown TV parameter type {ptype} at byte {pos}; "
                        "TV parameters carry no length so the rest cannot be parsed"
                    )
                if pos + 1 + size > end:
                    raise RemoteProtocolError(
                        f"{self.where}: TV parameter type {ptype} needs {size} bytes "
                        f"but only {end - pos - 1} are left"
                    )
                self.pos = pos + 1 + size
                yield ptype, Cursor(data, pos + 1, pos + 1 + size, self.where)
                continue
            if end - pos < 4:
                raise RemoteProtocolError(
                    f"{self.where}: {end - pos} stray bytes where a 4-byte TLV "
                    "parameter header should be"
                )
            raw_type, length = _TLV_HEADER.unpack_from(data, pos)
            ptype = raw_type & 0x3FF
            if length < 4:
                raise RemoteProtocolError(
                    f"{self.where}: parameter type {ptype} says its length is {length}, "
                    "less than its own 4-byte header"
                )
            if pos + length > end:
                raise RemoteProtocolError(
                    f"{self.where}: parameter type {ptype} length {length} runs "
                    f"{pos + length - end} bytes past the end of its container"
                )
            self.pos = pos + length
            yield ptype, Cursor(data, pos + 4, pos + length, f"{self.where}/param {ptype}")


def tlv(ptype: int, *body: bytes) -> bytes:
    """Frame a TLV parameter: Rsvd(6) Type(10), Length(16) including the header."""
    payload = b"".join(body)
    length = 4 + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"parameter type {ptype} body of {len(payload)} bytes exceeds 65535")
    return _TLV_HEADER.pack(ptype & 0x3FF, length) + payload


def tv(ptype: int, body: bytes) -> bytes:
    """Frame a TV parameter: 1, Type(7), then a fixed-size value."""
    return bytes((0x80 | ptype,)) + body


def u8(v: int) -> bytes:
    return bytes((v & 0xFF,))


def u16(v: int) -> bytes:
    return _U16.pack(v)


def s16(v: int) -> bytes:
    return _S16.pack(v)


def u32(v: int) -> bytes:
    return _U32.pack(v)


def u64(v: int) -> bytes:
    return _U64.pack(v)


def utf8v(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _U16.pack(len(raw)) + raw


def u32v(values: tuple[int, ...]) -> bytes:
    return _U16.pack(len(values)) + b"".join(_U32.pack(v) for v in values)
