"""The hub's MQTT client under paho (cloud/sync/mqtt_io.py), through a real Mosquitto: its
socket read in large pieces (every message whole and in order, none left waiting in the
buffer, a few reads for hundreds of packets instead of three for each), its PUBACKs read
as their ids, its packets sent together, its messages queued as paho made them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet

from cloud.settings import Settings
from cloud.sync import mqtt_io
from cloud.sync.worker import IngestWorker
from simulators.broker import PrivateBroker

TOPIC = "t/read"


def _spy(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, static: bool = False
) -> list[object]:
    """The calls of ``owner.name`` from now on (each call's first argument), passed through."""
    calls: list[object] = []
    real = getattr(owner, name)

    def spy(*args: Any) -> Any:
        calls.append(args[0] if args else None)
        return real(*args)

    monkeypatch.setattr(owner, name, staticmethod(spy) if static else spy)
    return calls


def _payloads() -> list[bytes]:
    """Small ones (many per read), one larger than a read, one with a two-byte length."""
    out = [f"m{i:05d}".encode() * (1 + i % 7) for i in range(600)]
    out[300] = bytes(range(256)) * (3 * mqtt_io.READ_SIZE // 256 + 17)  # spans 4 reads
    out[301] = b"x" * 200  # remaining length over 127: two bytes
    out[302] = b""  # an empty payload
    return out


async def _receive(broker: PrivateBroker, socket_reads: list[object]) -> tuple[list[bytes], int]:
    settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"hub-{uuid.uuid4().hex[:6]}")
    # The hub's own client, as its ingest worker makes it.
    client = IngestWorker(settings, None)._connect()  # type: ignore[arg-type]
    payloads = _payloads()
    got: list[bytes] = []
    async with client:
        await client.subscribe(TOPIC, qos=1)
        async with aiomqtt.Client("127.0.0.1", broker.port) as sender:
            # Not awaited one by one: they reach the hub's socket back to back.
            info = [sender._client.publish(TOPIC, p, qos=1) for p in payloads]
            async with asyncio.timeout(20):
                async for m in client.messages:
                    assert isinstance(m.payload, bytes) and str(m.topic) == TOPIC
                    got.append(m.payload)
                    if len(got) == len(payloads):
                        break
            assert all(i.rc == mqtt.MQTT_ERR_SUCCESS for i in info)
    mine = [c for c in socket_reads if c is client._client]
    assert mine, "the socket was never read"
    return got, len(mine)


def test_every_message_whole_and_in_order_with_few_reads(
    broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _spy(monkeypatch, mqtt.Client, "_sock_recv")
    # Queued as paho made them (mqtt_io.direct_messages), not copied by aiomqtt, nor read
    # into paho's message (and its info's threading.Condition).
    copies = _spy(monkeypatch, aiomqtt.Message, "_from_paho_message", static=True)
    decoded = _spy(monkeypatch, _packet, "decode_publish")
    got, hub_reads = asyncio.run(_receive(broker, reads))
    assert copies == [] and decoded == []
    assert got == _payloads()  # nothing lost, doubled, cut or out of order
    # paho alone: 3 reads a packet (1,800 here and more); buffered: the 200 KB payload
    # takes four, the rest arrives in a few dozen reads at most.
    assert hub_reads < 150, hub_reads


def test_a_partial_packet_waits_for_its_rest_without_a_busy_loop(
    broker: PrivateBroker,
) -> None:
    """A read that ends inside a packet: paho keeps the part, the loop returns, and the rest
    completes it when the socket is readable again."""

    class Sock:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        def close(self) -> None:
            pass

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    chunks = [bytes([0x30, 5, 0, 1, ord("t")]), b"ab"]  # PUBLISH QoS 0 "t" = "ab", cut
    received: list[bytes] = []
    client.on_message = lambda c, u, m: received.append(bytes(m.payload))
    sock = Sock(chunks)
    client._sock = sock  # type: ignore[assignment]
    client._state = mqtt._ConnectionState.MQTT_CS_CONNECTED

    def one_chunk(bufsize: int) -> bytes:
        if not sock.chunks:
            raise BlockingIOError
        return sock.chunks.pop(0)

    client._sock_recv = one_chunk  # type: ignore[method-assign]
    reads = mqtt_io.buffer_reads(client)
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert received == [] and reads.recvs == 1  # one read, no spinning on the part
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert received == [b"ab"] and reads.recvs == 2


def test_the_hubs_publishes_are_confirmed_from_pubacks_read_as_their_ids(
    broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every QoS 1 publish of the hub's client is confirmed (its info published, aiomqtt's
    callback called), and paho's PUBACK decoder, which builds a reason code and a property
    set per PUBACK, is not used for them."""
    decoded = _spy(monkeypatch, _packet, "decode_puback")
    sends = _spy(monkeypatch, mqtt.Client, "_sock_send")
    settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"hub-{uuid.uuid4().hex[:6]}")

    async def main() -> list[mqtt.MQTTMessageInfo]:
        client = IngestWorker(settings, None)._connect()  # type: ignore[arg-type]
        async with client:
            infos = [client._client.publish(f"t/ack/{i}", b"a", qos=1) for i in range(300)]
            await client.publish("t/ack/last", b"b", qos=1)  # aiomqtt's own: awaits its PUBACK
            async with asyncio.timeout(10):
                while not all(i.is_published() for i in infos):
                    await asyncio.sleep(0.01)
            assert not client._client._out_messages  # none left awaiting its PUBACK
            # The 300 publishes, queued at once, left in a few sends (paho: one each).
            assert sum(c is client._client for c in sends) < 30
            return infos

    infos = asyncio.run(main())
    assert len(infos) == 300 and all(i.rc == mqtt.MQTT_ERR_SUCCESS for i in infos)
    assert decoded == []


def test_packets_sent_together_arrive_whole_when_the_socket_fills(broker: PrivateBroker) -> None:
    """Far more than a socket's buffer at once: sends end inside packets and the rest goes
    when the socket is writable again; every message arrives whole and in order."""
    payloads = [bytes([i]) * (100_000 + i) for i in range(120)]  # ~12 MB
    settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"hub-{uuid.uuid4().hex[:6]}")

    async def main() -> list[bytes]:
        got: list[bytes] = []
        async with aiomqtt.Client("127.0.0.1", broker.port) as reader:
            await reader.subscribe("t/big", qos=1)
            client = IngestWorker(settings, None)._connect()  # type: ignore[arg-type]
            async with client:
                infos = [client._client.publish("t/big", p, qos=1) for p in payloads]
                async with asyncio.timeout(30):
                    async for m in reader.messages:
                        assert isinstance(m.payload, bytes)
                        got.append(m.payload)
                        if len(got) == len(payloads):
                            break
                    while not all(i.is_published() for i in infos):
                        await asyncio.sleep(0.01)
        return got

    assert asyncio.run(main()) == payloads


def test_messages_at_qos_0_arrive_too(broker: PrivateBroker) -> None:
    settings = Settings(mqtt_port=broker.port, mqtt_client_id=f"hub-{uuid.uuid4().hex[:6]}")

    async def main() -> list[tuple[str, bytes, bool]]:
        got: list[tuple[str, bytes, bool]] = []
        client = IngestWorker(settings, None)._connect()  # type: ignore[arg-type]
        async with client:
            await client.subscribe("t/q0/#", qos=1)
            async with aiomqtt.Client("127.0.0.1", broker.port) as sender:
                await sender.publish("t/q0/kept", b"r", qos=0, retain=True)
                for i in range(50):
                    await sender.publish(f"t/q0/{i}", str(i).encode(), qos=0)
                async with asyncio.timeout(10):
                    async for m in client.messages:
                        assert isinstance(m.payload, bytes)
                        got.append((str(m.topic), m.payload, bool(m.retain)))
                        if len(got) == 51:
                            break
                await sender.publish("t/q0/kept", b"", qos=0, retain=True)  # cleared
        return got

    got = asyncio.run(main())
    assert sorted(got) == sorted(
        [("t/q0/kept", b"r", False)] + [(f"t/q0/{i}", str(i).encode(), False) for i in range(50)]
    )


def test_a_paho_without_what_the_overrides_need_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A paho-mqtt whose private members moved: the hub's client runs as paho's own
    (correct, dearer), and the log says why."""
    monkeypatch.delattr(mqtt.Client, "_handle_pubackcomp")

    async def main() -> tuple[bool, dict[str, object]]:
        client = aiomqtt.Client("127.0.0.1", 1)
        return mqtt_io.lean(client), vars(client._client)

    leaned, own = asyncio.run(main())
    assert leaned is False
    assert not {"_sock_recv", "loop_read", "_packet_write", "_handle_publish"} & own.keys()
    assert "lacks _handle_pubackcomp" in caplog.text


@pytest.mark.parametrize(
    ("header", "packet"),
    [
        (0x32, b"\x00\x00\x00\x07ab"),  # QoS 1, an empty topic (MQTT 3.1.1 §4.7.3)
        (0x32, b"\x00\x32t/x\x00\x07"),  # the topic's length beyond the packet's end
        (0x32, b"\x00\x03t/x"),  # QoS 1 without its message id
        (0x30, b"\x00"),  # not even a topic length
    ],
)
def test_a_malformed_publish_is_paho_s_error_and_nothing_is_queued(
    header: int, packet: bytes
) -> None:
    from paho.mqtt.client import MalformedPacket

    async def main() -> int:
        client = aiomqtt.Client("127.0.0.1", 1)
        assert mqtt_io.lean(client)
        client._client._in_packet = {"command": header, "packet": bytearray(packet)}  # type: ignore[assignment, typeddict-item]
        with pytest.raises(MalformedPacket):
            client._client._handle_publish()
        return client._queue.qsize()

    assert asyncio.run(main()) == 0


def test_a_topic_that_is_not_utf8_reaches_the_group_as_a_rejection() -> None:
    """Read by paho (its own check), queued, and named so that the group records it as
    rejected instead of failing the ingest session."""
    from cloud.sync.group import Group
    from cloud.sync.worker import _name

    async def main() -> object:
        client = aiomqtt.Client("127.0.0.1", 1)
        assert mqtt_io.lean(client)
        packet = b"\x00\x03t/\xff" + b"payload"  # QoS 0, a topic with a byte no UTF-8 has
        client._client._in_packet = {"command": 0x30, "packet": bytearray(packet)}  # type: ignore[assignment, typeddict-item]
        assert client._client._handle_publish() == mqtt.MQTT_ERR_SUCCESS
        return client._queue.get_nowait()

    message = asyncio.run(main())
    group = Group()
    group.add(_name(message), b"payload")
    assert [r.reason for r in group.rejections] and not group.batches
