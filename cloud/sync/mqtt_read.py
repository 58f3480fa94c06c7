"""Read the hub's MQTT socket in large pieces instead of a few bytes at a time.

paho-mqtt reads a packet with a ``recv`` for its first byte, one per byte of its length
and one for the rest (``Client._packet_read``): three system calls for each event batch
and for each PUBACK of the hub's acks. At 2,000 nodes that was 15 % of the hub's CPU in
``_sock_recv`` alone (py-spy, issue 20). :func:`buffer_reads` gives one paho client a
read buffer: one ``recv`` of up to :data:`READ_SIZE` bytes per readiness of the socket,
and paho's reads are served from it, packets and their partial state handled by paho as
before.

Level-triggered readiness is kept honest: a read that finds the buffer empty reaches the
socket only once per ``loop_read`` (after that it answers "would block", as the socket
would), and ``loop_read`` parses every whole packet left in the buffer before it returns.
Bytes that stay in the buffer are part of a packet whose rest has not arrived; the socket
becomes readable when it does. So no packet waits in the buffer for a readiness event that
never comes, and one callback does a bounded amount of work.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

#: Bytes asked of the socket per read: ~300 one-event batches, or ~16,000 PUBACKs.
READ_SIZE = 64 * 1024


class _Reads:
    """One client's read buffer (the socket's bytes not yet handed to paho)."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.sock: object = None  # the socket ``data`` came from (a new one starts afresh)
        self.data = b""
        self.pos = 0
        self.may_read = False
        self.recvs = 0  # reads of the socket itself (for tests)
        self._recv = client._sock_recv  # paho's own: the socket, SSL and errors translated
        self._loop_read = client.loop_read

    def buffered(self) -> int:
        return len(self.data) - self.pos if self.client._sock is self.sock else 0

    def recv(self, bufsize: int) -> bytes:
        if self.client._sock is not self.sock:
            self.sock, self.data, self.pos = self.client._sock, b"", 0
        if self.pos >= len(self.data):
            if not self.may_read:
                raise BlockingIOError  # paho keeps its partial packet and waits
            self.may_read = False
            self.recvs += 1
            data = self._recv(max(bufsize, READ_SIZE))
            if not data:
                return data  # the broker closed the connection: paho's to handle
            self.data, self.pos = data, 0
        end = self.pos + bufsize
        piece = self.data[self.pos : end]
        self.pos = min(end, len(self.data))
        return piece

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self.may_read = True
        try:
            rc = self._loop_read(max_packets)
            # paho stops after as many packets as it has messages in flight: the rest of
            # what was read is parsed now (see the module's docstring).
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self.buffered():
                before = self.buffered()
                rc = self._loop_read(max_packets)
                if self.buffered() == before:
                    break  # a partial packet: its rest is still on the way
            return rc
        finally:
            self.may_read = False


def buffer_reads(client: mqtt.Client) -> _Reads:
    """Serve ``client``'s reads from a buffer filled :data:`READ_SIZE` bytes at a time.

    Call before the client connects, from the thread that drives it. Overrides two of
    paho's methods on this one instance: ``_sock_recv`` (private, stable from paho 1.x to
    2.2: one socket read) and ``loop_read``.
    """
    reads = _Reads(client)
    client._sock_recv = reads.recv  # type: ignore[method-assign]
    client.loop_read = reads.loop_read  # type: ignore[method-assign]
    return reads
