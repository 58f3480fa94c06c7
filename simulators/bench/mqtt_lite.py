"""The light fleet's MQTT 3.1.1 client (OASIS MQTT 3.1.1, section 3): the packets a node
uses (QoS 0 and 1), and one node's non-blocking connection (``Link``), driven by the
fleet's ``selectors`` loop. Why not paho: see fleet.py (paho cost twice the CPU per event).
"""

from __future__ import annotations

import socket
import struct
import time

from protocol.errors import RemoteProtocolError

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    0x10,
    0x20,
    0x30,
    0x40,
    0x80,
    0x90,
    0xC0,
    0xD0,
    0xE0,
)


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _utf8(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _remaining_length(len(body)) + body


def connect_packet(client_id: str, keepalive: int, will_topic: str, will: bytes) -> bytes:
    # Clean session (we never rely on the broker's queue), will at QoS 1, retained.
    flags = 0x02 | 0x04 | 0x08 | 0x20
    body = _utf8("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive)
    return packet(CONNECT, body + _utf8(client_id) + _utf8(will_topic) + _utf8(will))


PINGREQ_PACKET = bytes((PINGREQ, 0))
DISCONNECT_PACKET = bytes((DISCONNECT, 0))


def publish_packet(topic: str, payload: bytes, mid: int, retain: bool = False) -> bytes:
    """A QoS 1 PUBLISH."""
    return packet(PUBLISH | 0x02 | retain, _utf8(topic) + struct.pack("!H", mid) + payload)


def subscribe_packet(mid: int, filters: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", mid) + b"".join(_utf8(t) + bytes((q,)) for t, q in filters)
    return packet(SUBSCRIBE | 0x02, body)


def split_packets(buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """The complete packets at the start of ``buf`` as (first byte, body), and bytes used."""
    out: list[tuple[int, bytes]] = []
    pos, size = 0, len(buf)
    while size - pos >= 2:
        length, mult, i = 0, 1, pos + 1
        while True:
            if i >= size:
                return out, pos
            digit = buf[i]
            length += (digit & 0x7F) * mult
            mult *= 128
            i += 1
            if not digit & 0x80:
                break
            if i - pos > 4:
                raise RemoteProtocolError("malformed MQTT remaining length")
        if i + length > size:
            break
        out.append((buf[pos], bytes(buf[i : i + length])))
        pos = i + length
    return out, pos


class Link:
    """One node's MQTT connection: non-blocking, written by the fleet's loop only.

    Outgoing QoS 1 publishes are not kept for resending: a lost connection loses
    them, and the sync protocol above (hello, ack, go-back-N) sends them again,
    exactly as the real agent with a clean session does.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        #: PUBACKs owed to the broker, sent with the node's next packet or within a second:
        #: a send of their own for each of the hub's acks was a third of this fleet's CPU.
        self.pubacks = bytearray()
        self.mid = 0
        self.last_tx = time.monotonic()
        self.want_write = False

    def next_mid(self) -> int:
        self.mid = self.mid % 0xFFFF + 1
        return self.mid

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.wbuf += publish_packet(topic, payload, self.next_mid(), retain)

    def send(self) -> bool:
        """Write what is queued; True when some remains (the socket is full)."""
        if self.wbuf:
            if self.pubacks:
                self.wbuf += self.pubacks
                self.pubacks.clear()
            n = self.sock.send(self.wbuf)
            del self.wbuf[:n]
            self.last_tx = time.monotonic()
        return bool(self.wbuf)

    def receive(self) -> list[tuple[int, bytes]] | None:
        """Packets that arrived, or None when the broker closed the connection."""
        data = self.sock.recv(262_144)
        if not data:
            return None
        self.rbuf += data
        packets, used = split_packets(self.rbuf)
        del self.rbuf[:used]
        return packets
