"""Read the broker connection in large pieces, not a system call per header byte.

paho reads a packet's first byte, then its remaining length a byte at a time, then its
body, each with its own ``recv`` (paho ``Client._packet_read``): three or four system calls
for every PUBLISH and every PUBACK, two packets of each per event batch at the hub. Under
2,000 nodes that was the largest single cost left in the hub's MQTT loop (py-spy: paho's
``_sock_recv`` 6-9 % of the hub's samples; issue 20). Wrapped, the socket takes what the
kernel holds in one ``recv`` and hands paho its bytes from memory.

Nothing waits in the buffer unseen: aiomqtt's reader callback calls ``loop_read`` again
while the socket reports ``pending()`` bytes (it does so for TLS sockets, whose records
hold decrypted bytes the same way), and paho's ``loop_read`` stops after as many packets as
it has messages in flight.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

#: Bytes asked of the kernel at once (a group's worth of small packets).
CHUNK = 256 * 1024


class ReadAhead:
    """A socket whose ``recv`` serves from what one large read brought in."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = bytearray()

    def recv(self, size: int) -> bytes:
        if not self._buf:
            data: bytes = self._sock.recv(CHUNK)  # BlockingIOError when there is nothing
            if len(data) <= size:
                return data  # b"" is the end of the connection: paho's to see
            self._buf += data
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def pending(self) -> int:
        """Bytes received and not yet read (aiomqtt reads again while there are any)."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)  # send, fileno, close, setblocking...


def install(client: mqtt.Client) -> None:
    """Wrap every socket ``client`` opens from now on (before aiomqtt watches it)."""
    opened = client.on_socket_open

    def on_open(c: mqtt.Client, userdata: Any, sock: Any) -> None:
        wrapped = ReadAhead(sock)
        c._sock = wrapped  # paho reads and writes through it
        if opened is not None:
            opened(c, userdata, wrapped)

    client.on_socket_open = on_open
