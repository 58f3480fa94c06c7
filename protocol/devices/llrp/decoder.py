"""h11-style stream decoder for LLRP over TCP (LLRP 1.0.1 §4.1, §18.1)."""

from __future__ import annotations

import struct

from protocol.devices.llrp.constants import HEADER_LEN, LLRP_VERSION, MAX_MESSAGE_LEN
from protocol.devices.llrp.messages import LLRPMessage, decode_body
from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

_HEADER = struct.Struct("!HII")


class LLRPDecoder:
    """``feed(bytes)`` then ``next_message()`` -> a typed message or ``NEED_DATA``.

    A frame whose Length field is below the 10-byte header or above
    ``max_message_len`` raises :class:`RemoteProtocolError`; after that the
    stream cannot be resynchronised (LLRP has no frame delimiter), so the
    connection should be closed.
    """

    def __init__(self, max_message_len: int = MAX_MESSAGE_LEN) -> None:
        self._buf = bytearray()
        self._max = max_message_len

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_message(self) -> LLRPMessage | NeedData:
        buf = self._buf
        if len(buf) < HEADER_LEN:
            return NEED_DATA
        word, length, message_id = _HEADER.unpack_from(buf, 0)
        version = (word >> 10) & 0x7
        mtype = word & 0x3FF
        if length < HEADER_LEN:
            raise RemoteProtocolError(
                f"LLRP message type {mtype} says its length is {length}, "
                f"less than the {HEADER_LEN}-byte header"
            )
        if length > self._max:
            raise RemoteProtocolError(
                f"LLRP message type {mtype} says its length is {length} bytes, over the "
                f"{self._max}-byte limit; the length field is corrupt"
            )
        if version != LLRP_VERSION:
            raise RemoteProtocolError(
                f"LLRP message type {mtype} has protocol version {version}; "
                f"this codec speaks LLRP 1.0.1 (version {LLRP_VERSION})"
            )
        if len(buf) < length:
            return NEED_DATA
        frame = bytes(buf[:length])
        del buf[:length]
        return decode_body(mtype, message_id, frame, HEADER_LEN, length)


def decode_one(data: bytes) -> LLRPMessage:
    """Decode exactly one complete message (tests, benchmarks)."""
    dec = LLRPDecoder()
    dec.feed(data)
    msg = dec.next_message()
    if isinstance(msg, NeedData):
        raise RemoteProtocolError(f"incomplete LLRP message ({len(data)} bytes)")
    if dec.buffered:
        raise RemoteProtocolError(f"{dec.buffered} bytes after the LLRP message")
    return msg
