"""The hub's MQTT client under paho, made cheaper per packet: its socket read and written
in large pieces, its PUBACKs read without paho's objects, its messages queued as paho
reads them. Each saves the hub CPU per message at fan-in (issue 20); what paho does is
otherwise unchanged, and paho still parses and builds every packet.

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

:func:`lean_pubacks`: every ack the hub publishes (QoS 1) comes back as a PUBACK, and paho
decodes each into a reason code and a property set, which MQTT 3.1.1 has neither of (its
PUBACK is the message id alone, §3.4): 7.6 % of the hub's CPU at 2,000 nodes, the property
set's constructor 4.8 % (py-spy, issue 20). Such a PUBACK is now read as its id and handed
to paho's own completion (``_do_on_publish``: the message info marked published, the
callback called) with one shared "success" and one empty property set; anything else
(MQTT 5, a malformed packet) goes through paho's decoder as before.

:func:`coalesce_writes`: paho sends each queued packet with a ``send`` of its own; a group's
acks (hundreds) and the PUBACKs of what was read go out together now, in one ``send``
of up to :data:`WRITE_SIZE` bytes.

:func:`direct_messages`: a received message goes into aiomqtt's queue as paho made it,
not through paho's topic-filter walk and aiomqtt's copy of it (its topic validated
again): the worker reads only the topic and payload (cloud/sync/worker.py ``_ingest``).
And an MQTT 3.1.1 PUBLISH at QoS 0 or 1 is read into a :class:`Received` (topic, payload)
instead of paho's message, whose completion info makes a ``threading.Condition`` per
message that nobody waits on for a message received: the message and its info were
7.6 % of the hub's CPU (py-spy, issue 20).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

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


#: What paho's decoder makes of every MQTT 3.1.1 PUBACK (no reason code: success; no
#: properties), made once. Read only, by paho and by aiomqtt's ``on_publish`` (which
#: ignores both).
_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


def lean_pubacks(client: mqtt.Client) -> None:
    """Complete ``client``'s QoS 1 publishes from MQTT 3.1.1 PUBACKs without decoding each
    into objects (see the module's docstring). Overrides paho's private
    ``_handle_pubackcomp`` on this one instance (paho 2.x; ``_packet_handle`` calls it)."""
    paho_handle = client._handle_pubackcomp

    def handle(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = client._in_packet["packet"]
        if cmd != "PUBACK" or client._protocol == MQTTProtocolVersion.MQTTv5 or len(packet) != 2:
            return paho_handle(cmd)
        mid = packet[0] << 8 | packet[1]
        with client._out_message_mutex:
            if mid in client._out_messages:
                return client._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_pubackcomp = handle  # type: ignore[method-assign]


#: Bytes joined into one ``send`` at most (a group's acks are ~100 bytes each).
WRITE_SIZE = 256 * 1024

log = logging.getLogger("guanjia.cloud.ingest")


def _plain(packet: Any) -> bool:
    """A packet paho does nothing more for once it is written (all but a QoS 0 PUBLISH,
    whose info is marked published then, and a DISCONNECT, which closes the socket)."""
    command = packet["command"] & 0xF0
    return not (command == mqtt.PUBLISH and packet["qos"] == 0) and command != mqtt.DISCONNECT


def coalesce_writes(client: mqtt.Client) -> None:
    """Send ``client``'s queued packets together (see the module's docstring). Overrides
    paho's private ``_packet_write`` on this one instance (paho 2.x; ``loop_write`` calls
    it): the plain packets at the head of the queue go in one ``send``; a packet that needs
    paho's own completion, and whatever is left, go through paho's as before."""
    paho_write = client._packet_write
    out = client._out_packet

    def write() -> MQTTErrorCode:
        while len(out) > 1 and _plain(out[0]) and _plain(out[1]):
            take = []
            size = 0
            for packet in out:
                if not _plain(packet) or size >= WRITE_SIZE:
                    break
                take.append(packet)
                size += packet["to_process"]
            # (a packet started in an earlier send resumes where that one ended)
            data = b"".join(
                memoryview(p["packet"])[p["pos"] :] if p["pos"] else p["packet"] for p in take
            )
            try:
                sent = client._sock_send(data)
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN  # the socket is full: paho waits to write
            except (AttributeError, ValueError):
                return MQTTErrorCode.MQTT_ERR_SUCCESS  # no socket (any more): as paho
            except OSError as err:
                log.warning("failed to send on the MQTT socket: %s", err)
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            for packet in take:
                if sent <= 0:
                    break
                done = min(sent, packet["to_process"])
                packet["to_process"] -= done
                packet["pos"] += done
                sent -= done
                if packet["to_process"] == 0:
                    out.popleft()
            with client._msgtime_mutex:
                client._last_msg_out = time.monotonic()
        return paho_write()

    client._packet_write = write  # type: ignore[method-assign]


class Received:
    """A message received at QoS 0 or 1: what the ingest worker reads of it."""

    __slots__ = ("payload", "qos", "retain", "topic")

    def __init__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain


def direct_messages(client: aiomqtt.Client) -> None:
    """Queue ``client``'s received messages without paho's and aiomqtt's objects (see the
    module's docstring).

    Overrides two of paho's private methods on this one instance (paho 2.x):
    ``_handle_publish`` (called for each PUBLISH read) for MQTT 3.1.1 at QoS 0 and 1, which
    queues a :class:`Received` and sends the PUBACK as paho does (after queueing); and
    ``_handle_on_message``, for what still goes through paho (QoS 2, MQTT 5, a topic that
    is not UTF-8, a malformed packet), which queues paho's ``MQTTMessage`` itself. Either
    way the queue yields an object with a text ``topic`` and a bytes ``payload``: only for
    a reader that uses those (the ingest worker), not for filtered callbacks, which this
    client has none of.
    """
    paho = client._client
    put = client._queue.put_nowait
    paho_handle = paho._handle_publish

    def handle() -> MQTTErrorCode:
        header = paho._in_packet["command"]
        packet = paho._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if qos == 2 or paho._protocol == MQTTProtocolVersion.MQTTv5 or paho._manual_ack:
            return paho_handle()
        # MQTT 3.1.1 §3.3.2: the topic's length and name, the message id at QoS 1, then
        # the payload (§3.3.3) to the packet's end.
        end = 2 + (packet[0] << 8 | packet[1]) if len(packet) >= 2 else 0
        start = end + 2 * qos
        if end <= 2 or len(packet) < start:
            return paho_handle()  # no topic, or cut short: paho's error
        try:
            topic = packet[2:end].decode()
        except UnicodeDecodeError:
            return paho_handle()
        put(Received(topic, bytes(packet[start:]), qos, bool(header & 0x01)))  # type: ignore[arg-type]
        if qos == 0:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return paho._send_puback(packet[end] << 8 | packet[end + 1])

    paho._handle_publish = handle  # type: ignore[method-assign]
    paho._handle_on_message = put  # type: ignore[assignment]


#: paho's private members the functions above use or replace (paho-mqtt 2.1 and 2.2).
_PAHO_MEMBERS = (
    "_sock_recv",
    "_sock_send",
    "_sock",
    "_handle_pubackcomp",
    "_do_on_publish",
    "_packet_write",
    "_handle_publish",
    "_handle_on_message",
    "_send_puback",
    "_in_packet",
    "_out_packet",
    "_out_messages",
    "_out_message_mutex",
    "_msgtime_mutex",
    "_protocol",
    "_manual_ack",
)


def lean(client: aiomqtt.Client) -> bool:
    """All of the above on ``client`` (call before it connects); False, and paho's own code
    left as it is (correct, dearer), when this paho lacks a member they rely on."""
    paho = getattr(client, "_client", None)
    missing = [m for m in _PAHO_MEMBERS if not hasattr(paho, m)]
    if not hasattr(client, "_queue"):
        missing.append("aiomqtt's _queue")
    if missing:
        log.warning(
            "this paho-mqtt/aiomqtt lacks %s: the hub's MQTT client runs as they are",
            ", ".join(missing),
        )
        return False
    assert paho is not None
    buffer_reads(paho)
    lean_pubacks(paho)
    coalesce_writes(paho)
    direct_messages(client)
    return True
