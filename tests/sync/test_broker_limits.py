"""The generated broker config's size and queue limits, on a real Mosquitto (issue 19, finding 6).

Before: no message size limit (a 200 MiB message was accepted and forwarded) and the
default queue of 1,000 messages per client dropped valid batches queued for the hub's
client under a flood. The broker runs the config `guanjia broker config` writes
(tests/sync/test_isolation.py's ``Mosquitto``), as an operator's does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.sync.enroll import DEFAULT_CLOUD_USER, MAX_PACKET_SIZE
from protocol import codec, topics
from protocol.messages import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, ScanPayload, ScanRecorded
from tests.sync.test_isolation import World, connected, needs_mosquitto, t

pytestmark = needs_mosquitto


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("limits"))
    with w.broker:
        yield w


@pytest.fixture
def w(world: World) -> Iterator[World]:
    yield world
    world.close_peers()


def a_full_batch() -> bytes:
    """A real batch as the edge encodes it: the most events a batch holds, long barcodes."""
    import uuid

    def event(seq: int) -> bytes:
        return codec.encode_event(
            ScanRecorded(
                node="A",
                epoch=1,
                seq=seq,
                id=uuid.uuid4(),
                hlc=seq,
                payload=ScanPayload(
                    station="s",
                    barcode=f"B{seq:010d}".ljust(128, "x"),
                    sku_code="S".ljust(120, "k"),
                    verdict="ok",
                ),
            )
        )

    bodies: list[bytes] = []
    size = 0
    while True:
        body = event(len(bodies) + 1)
        if size + len(body) + 64 > MAX_BATCH_BYTES or len(bodies) == MAX_BATCH_EVENTS:
            break
        bodies.append(body)
        size += len(body) + 1
    batch = codec.encode_batch("A", bodies)
    assert MAX_BATCH_BYTES // 2 < len(batch) <= MAX_BATCH_BYTES
    return batch


def test_batches_up_to_the_limit_pass_and_a_bigger_message_is_refused(w: World) -> None:
    conf = w.broker.conf.read_text()
    assert f"message_size_limit {MAX_BATCH_BYTES}\n" in conf
    assert f"max_packet_size {MAX_PACKET_SIZE}\n" in conf
    cloud = connected(w.cloud())
    cloud.subscribe("guanjia/v1/#")
    a = connected(w.node("A"))
    events = t("A", topics.Channel.EVENTS)

    batch = a_full_batch()
    a.publish(events, batch)
    assert cloud.wait_for(events, batch)[-1][1] == batch  # a full batch passes

    limit = b"x" * MAX_BATCH_BYTES
    a.publish(events, limit)
    cloud.wait_for(events, limit)  # so does a payload of exactly the limit

    a.publish(events, b"y" * (MAX_BATCH_BYTES + 1))  # QoS 1 completes, nothing forwarded
    a.publish(events, b"sentinel")
    seen = cloud.wait_for(events, b"sentinel")
    assert [len(m[1]) for m in seen] == [len(b"sentinel")]

    # A packet past max_packet_size (here 4 MiB; 200 MiB before) disconnects its sender.
    a.client.publish(events, b"w" * (4 * MAX_BATCH_BYTES), qos=1)
    deadline = time.monotonic() + 5
    while a.is_connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not a.is_connected
    assert a.disconnects, "the broker kept a client sending a 4 MiB packet"
    b = connected(w.node("B"))
    b.publish(t("B", topics.Channel.EVENTS), b"after")
    seen = cloud.wait_for(t("B", topics.Channel.EVENTS), b"after")
    assert all(len(m[1]) <= MAX_BATCH_BYTES for m in seen)


def test_a_slow_hub_client_keeps_a_flood_of_batches_queued(w: World) -> None:
    """3,000 QoS 1 messages queue for a hub client that reads none of them for a while:
    Mosquitto's default queue (1,000) dropped two thirds of them."""
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="guanjia-cloud-slow")
    hub.username_pw_set(DEFAULT_CLOUD_USER, w.pw["cloud"])
    got: list[bytes] = []
    hub.on_message = lambda c, u, m: got.append(bytes(m.payload))
    hub.connect("127.0.0.1", w.broker.layout.cloud_port, keepalive=60)
    subscribed: list[int] = []
    hub.on_subscribe = lambda c, u, mid, rcs, p: subscribed.append(mid)
    hub.subscribe(t("A", topics.Channel.EVENTS), qos=1)
    deadline = time.monotonic() + 5
    while not subscribed and time.monotonic() < deadline:
        hub.loop(timeout=0.05)
    assert subscribed
    try:
        # The hub reads nothing now: the broker holds 20 in flight and queues the rest.
        a = connected(w.node("A"))
        sent = [b"batch-%05d" % i for i in range(3000)]
        for payload in sent:
            a.publish(t("A", topics.Channel.EVENTS), payload)
        deadline = time.monotonic() + 30
        while len(got) < len(sent) and time.monotonic() < deadline:
            hub.loop(timeout=0.05)
        assert len(got) == len(sent), f"{len(sent) - len(got)} of {len(sent)} dropped"
        assert got == sent  # in order, none doubled
    finally:
        hub.disconnect()
