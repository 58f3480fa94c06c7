"""Ingest notices a broker link that died without a word, and connects again (issue 19).

The wedge these tests pin: a broker killed and restarted mid-sync, and one hub of ten kept a
connection that carried nothing more and reported no disconnect. Its message loop waited for
good while the node queued (node at seq 510, hub acked 396, 70 s without progress); the only
sign was its acks' publishes timing out. Two faults, injected by a TCP relay between ingest
and a real Mosquitto: the link goes silent both ways (the keep-alive must notice), and the
broker's PUBACKs go missing while everything else flows (the unconfirmed publish must).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from cloud.settings import Settings
from protocol import codec, topics
from protocol.hlc import pack
from protocol.messages import Ack, ScanPayload, ScanRecorded
from simulators.broker import PrivateBroker
from simulators.chaos.procs import Relay
from simulators.net import free_port
from tests.support import wait
from tests.sync.harness import ingest_in_thread

NODE = "wh1-pack-1"
#: MQTT 3.1.1 §2.2.1: the control packet type is the high nibble of the first byte.
PUBACK = 4


def _events(n: int) -> list[bytes]:
    now = int(datetime.now(UTC).timestamp() * 1000)
    return [
        codec.encode_event(
            ScanRecorded(
                node=NODE,
                epoch=1,
                seq=seq,
                id=uuid.uuid4(),
                hlc=pack(now, seq),
                payload=ScanPayload(station="pack-1", barcode=f"B{seq}", verdict="unknown"),
            )
        )
        for seq in range(1, n + 1)
    ]


class _Node:
    """A node's side, straight to the broker: publishes a batch until the hub acks it."""

    def __init__(self, port: int) -> None:
        self.acked = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, f"node-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topics.topic(NODE, topics.Channel.ACK), qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.acked = max(self.acked, codec.decode(Ack, bytes(msg.payload)).acked_through)

    def send_until_acked(self, events: list[bytes], within: float) -> float:
        """Resend every second (as the agent's go-back-N does); seconds until acked."""
        t0 = time.monotonic()
        batch = codec.encode_batch(NODE, events)
        while self.acked < len(events):
            if time.monotonic() - t0 > within:
                raise AssertionError(
                    f"not acked within {within} s (acked through {self.acked} of {len(events)})"
                )
            self.client.publish(topics.topic(NODE, topics.Channel.EVENTS), batch, qos=1)
            deadline = time.monotonic() + 1.0
            while self.acked < len(events) and time.monotonic() < deadline:
                time.sleep(0.02)
        return time.monotonic() - t0

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_silent_link_is_dropped_by_the_keepalive(broker: PrivateBroker, engine: Engine) -> None:
    relay = Relay(broker.port)
    relay.heal()
    keepalive = 2
    node = _Node(broker.port)
    try:
        with ingest_in_thread(
            engine,
            relay.port,
            client_id=f"cloud-{uuid.uuid4().hex[:6]}",
            mqtt_keepalive_s=keepalive,
        ) as worker:
            wait(lambda: worker.stats.sessions == 1, 5, "the first session")
            time.sleep(0.3)  # the worker's subscriptions settle
            relay.silence()  # the hub's connection stays open and carries nothing more
            took = node.send_until_acked(_events(3), within=30)
            # paho pings after one keep-alive without traffic and drops the link after
            # another without an answer; then a reconnect (backoff from 0.2 s) and a resend.
            assert took <= 2 * keepalive + 4, f"acked after {took:.1f} s"
            assert worker.stats.sessions >= 2
    finally:
        node.close()
        relay.close()


class _PubackEater:
    """A relay in front of the broker that drops the PUBACKs it carries to the client once
    ``eat`` is set, and forwards every other packet both ways."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.eat = False
        self.eaten = 0
        self._srv = socket.create_server(("127.0.0.1", self.port))
        self._socks: list[socket.socket] = [self._srv]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._srv.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.target))
            self._socks += [down, up]
            threading.Thread(target=self._plain, args=(down, up), daemon=True).start()
            threading.Thread(target=self._filtered, args=(up, down), daemon=True).start()

    def _plain(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)

    def _filtered(self, src: socket.socket, dst: socket.socket) -> None:
        buf = b""
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                buf += data
                while (frame := self._frame(buf)) is not None:
                    packet, buf = buf[:frame], buf[frame:]
                    if self.eat and packet[0] >> 4 == PUBACK:
                        self.eaten += 1
                        continue
                    dst.sendall(packet)

    @staticmethod
    def _frame(buf: bytes) -> int | None:
        """Length of the first whole packet in ``buf`` (MQTT 3.1.1 §2.2.3: the remaining
        length, 7 bits a byte, low first, at most four bytes), or None."""
        length, shift = 0, 0
        for i in range(1, min(len(buf), 5)):
            length |= (buf[i] & 0x7F) << shift
            shift += 7
            if not buf[i] & 0x80:
                end = i + 1 + length
                return end if len(buf) >= end else None
        return None

    def close(self) -> None:
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()


def test_an_unconfirmed_publish_ends_the_session(broker: PrivateBroker, engine: Engine) -> None:
    relay = _PubackEater(broker.port)
    node = _Node(broker.port)
    try:
        with ingest_in_thread(
            engine, relay.port, client_id=f"cloud-{uuid.uuid4().hex[:6]}", mqtt_puback_timeout_s=1.0
        ) as worker:
            wait(lambda: worker.stats.sessions == 1, 5, "the first session")
            time.sleep(0.3)
            relay.eat = True  # the broker takes the hub's acks and its PUBACKs go missing
            node.send_until_acked(_events(2), within=10)  # the broker delivers the ack itself
            wait(lambda: relay.eaten >= 1, 10, "a PUBACK eaten")
            wait(lambda: worker.stats.sessions >= 2, 10, "ingest connecting again")
    finally:
        node.close()
        relay.close()


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_puback_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        Settings(mqtt_puback_timeout_s=timeout)
