"""Topic isolation on a real Mosquitto running the config `guanjia broker config` writes.

Node A, holding its own credentials, must not be able to publish under node
B's topics, read B's topics (not even through ``#``), leave a will on B's
topics, or take over B's session by connecting with B's client id. MQTT 3.1.1
has no negative PUBACK (§3.4: PUBACK carries only the packet id; Mosquitto
acknowledges a denied publish and drops it), so every "refused" is asserted as
non-delivery: a sentinel sent *after* the forbidden message arrives, and the
forbidden one did not arrive before it (Mosquitto keeps per-client order,
MQTT 3.1.1 §4.6).

PrivateBroker writes ``allow_anonymous true`` into its own config, which must
not be in effect here, so these tests run ``mosquitto -c`` on the generated
config exactly as an operator would.
"""

from __future__ import annotations

import getpass
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.sync.enroll import DEFAULT_CLOUD_USER, BrokerLayout, CredentialStore, write_broker_config
from protocol import topics
from simulators.broker import find_mosquitto
from simulators.net import free_port, wait_for_port

WAIT_S = 5.0  # upper bound on any single wait; they normally take milliseconds

needs_mosquitto = pytest.mark.skipif(
    find_mosquitto() is None, reason="no mosquitto binary (install the 'mosquitto' package)"
)


class Mosquitto:
    """``mosquitto -c <generated conf>`` on free loopback ports; reload() sends SIGHUP."""

    def __init__(self, store: CredentialStore, workdir: Path) -> None:
        self.store = store
        self.workdir = workdir
        self.layout = BrokerLayout("127.0.0.1", free_port(), "127.0.0.1", free_port())
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        write_broker_config(self.store, self.conf, self.layout)
        # Started as root, mosquitto drops to the `mosquitto` user before reading the
        # password files (mosquitto.conf(5), `user`), which cannot enter pytest's 0700
        # tmp dirs; keep the test's own user instead. Deployments chgrp the files.
        with self.conf.open("a", encoding="utf-8") as f:
            f.write(f"user {getpass.getuser()}\n")

    def start(self) -> Mosquitto:
        binary = find_mosquitto()
        assert binary is not None
        self.write_config()
        with open(self.log, "ab") as logf:
            # -v: the log shows "Denied PUBLISH" lines when a test fails.
            self.proc = subprocess.Popen(
                [binary, "-v", "-c", str(self.conf)], stdout=logf, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port("127.0.0.1", self.layout.edge_port, WAIT_S)
            wait_for_port("127.0.0.1", self.layout.cloud_port, WAIT_S)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start:\n{self.log.read_text()}") from None
        return self

    def reload(self) -> None:
        """Regenerate the files and SIGHUP, as `systemctl reload mosquitto` does."""
        assert self.proc is not None
        self.write_config()
        mark = self.log.stat().st_size
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT_S
        while b"Reloading config" not in self.log.read_bytes()[mark:]:
            assert time.monotonic() < deadline, "mosquitto did not log the reload"
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Peer:
    """One paho client with blocking, bounded connect/subscribe/publish and a message queue."""

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None,
        password: str | None,
        *,
        v5: bool = False,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.port = port
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.disconnects: list[ReasonCode] = []
        self._connected = threading.Event()
        self._acks: dict[int, threading.Event] = {}
        self._results: dict[int, list[ReasonCode] | ReasonCode] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._network, daemon=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    def _network(self) -> None:
        # Our own loop instead of loop_start(): short polls keep close() fast, and a
        # refused or kicked peer stays down (loop() never reconnects).
        while not self._stop.is_set():
            if self.client.loop(timeout=0.02) != mqtt.MQTT_ERR_SUCCESS:
                self._stop.wait(0.02)

    # callbacks run on the network thread

    def _on_connect(
        self, c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: Properties | None
    ) -> None:
        self.connack = rc
        self._connected.set()

    def _on_disconnect(
        self, c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: Properties | None
    ) -> None:
        self.disconnects.append(rc)
        self._connected.set()  # a refused CONNECT ends here too

    def _on_message(self, c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        self.messages.put((m.topic, bytes(m.payload), bool(m.retain)))

    def _ack(self, mid: int, result: list[ReasonCode] | ReasonCode) -> None:
        with self._lock:
            self._results[mid] = result
            self._acks.setdefault(mid, threading.Event()).set()

    def _on_subscribe(
        self, c: mqtt.Client, u: object, mid: int, rcs: list[ReasonCode], p: Properties | None
    ) -> None:
        self._ack(mid, rcs)

    def _on_publish(
        self, c: mqtt.Client, u: object, mid: int, rc: ReasonCode, p: Properties | None
    ) -> None:
        self._ack(mid, rc)

    def _wait(self, mid: int) -> list[ReasonCode] | ReasonCode:
        with self._lock:
            ev = self._acks.setdefault(mid, threading.Event())
        assert ev.wait(WAIT_S), f"no ack for mid {mid} within {WAIT_S} s"
        return self._results[mid]

    # blocking API for tests

    def connect(self) -> ReasonCode:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self._thread.start()
        assert self._connected.wait(WAIT_S), "no CONNACK"
        assert self.connack is not None
        return self.connack

    @property
    def is_connected(self) -> bool:
        return bool(self.client.is_connected())

    def subscribe(self, topic_filter: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe(topic_filter, qos=1)
        assert mid is not None
        result = self._wait(mid)
        assert isinstance(result, list)
        return result

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        result = self._wait(info.mid)
        assert isinstance(result, ReasonCode)
        return result

    def wait_for(self, topic: str, payload: bytes) -> list[tuple[str, bytes, bool]]:
        """Everything received up to and including (topic, payload); fails after WAIT_S."""
        seen: list[tuple[str, bytes, bool]] = []
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            try:
                msg = self.messages.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError(f"{topic} {payload!r} not received; got {seen}") from None
            seen.append(msg)
            if msg[:2] == (topic, payload):
                return seen

    def close(self) -> None:
        self.client.disconnect()
        self.stop_network()

    def stop_network(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(WAIT_S)


def drop_connection(peer: Peer) -> None:
    """Close the socket without DISCONNECT, as a crash or power cut does, so the will fires."""
    sock = peer.client.socket()
    assert isinstance(sock, socket.socket)
    peer.stop_network()
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- fixtures -------------------------------------------------------------------------

HUB = topics.HUB_STATE


def t(node: str, ch: topics.Channel) -> str:
    return topics.topic(node, ch)


class World:
    """One broker with nodes A and B and the cloud account enrolled."""

    def __init__(self, workdir: Path) -> None:
        self.store = CredentialStore(workdir / "store")
        self.pw = {
            "A": self.store.enroll("A").password,
            "B": self.store.enroll("B").password,
            "cloud": self.store.enroll_cloud().password,
        }
        self.broker = Mosquitto(self.store, workdir)
        self._peers: list[Peer] = []

    def node(self, node: str, *, client_id: str | None = None, **kw: Any) -> Peer:
        peer = Peer(
            self.broker.layout.edge_port, client_id or f"edge-{node}", node, self.pw[node], **kw
        )
        self._peers.append(peer)
        return peer

    def cloud(self, client_id: str = "guanjia-cloud-1") -> Peer:
        peer = Peer(self.broker.layout.cloud_port, client_id, DEFAULT_CLOUD_USER, self.pw["cloud"])
        self._peers.append(peer)
        return peer

    def close_peers(self) -> None:
        for p in self._peers:
            p.close()
        self._peers.clear()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("isolation"))
    with w.broker:
        yield w


@pytest.fixture
def w(world: World) -> Iterator[World]:
    # One connection per node at a time: the edge listener names every session after
    # its username, so a second connection of A would (rightly) replace the first.
    yield world
    world.close_peers()


def connected(peer: Peer) -> Peer:
    rc = peer.connect()
    assert not rc.is_failure, rc
    return peer


def refused(rc: ReasonCode) -> bool:
    # 5 "not authorized" (MQTT 3.1.1 §3.2.2.3) or 135 (MQTT 5 §3.2.2.2)
    return rc.is_failure and rc.value in (5, 135)


# --- tests ----------------------------------------------------------------------------

pytestmark = needs_mosquitto


def test_node_cannot_publish_under_another_nodes_topics(w: World) -> None:
    cloud = connected(w.cloud())
    cloud.subscribe("guanjia/v1/#")
    a = connected(w.node("A"))
    forbidden = [
        t("B", topics.Channel.EVENTS),
        t("B", topics.Channel.PULL),
        t("B", topics.Channel.STATE),
        t("B", topics.Channel.ACK),  # cloud -> B: A must not forge acks either
        t("A", topics.Channel.DOWN),  # nor its own downlink
        HUB,
        "guanjia/v1/node/B",
        "elsewhere/entirely",
    ]
    for name in forbidden:
        a.publish(name, b"forged", retain=True)
    a.publish(t("A", topics.Channel.EVENTS), b"sentinel")
    seen = cloud.wait_for(t("A", topics.Channel.EVENTS), b"sentinel")
    assert [m for m in seen if m[1] == b"forged"] == []

    # Nor was anything retained: a fresh subscriber gets no retained "forged" message.
    late = connected(w.cloud("guanjia-cloud-2"))
    late.subscribe("guanjia/v1/node/B/#")
    cloud.publish(t("B", topics.Channel.STATE), b"marker")
    seen = late.wait_for(t("B", topics.Channel.STATE), b"marker")
    assert [m for m in seen if m[1] == b"forged"] == []


def test_denied_publish_is_refused_outright_over_mqtt5(w: World) -> None:
    # MQTT 5 can say it (PUBACK reason 0x87, §3.4.2.1); 3.1.1 clients get a plain PUBACK.
    a = connected(w.node("A", v5=True))
    assert a.publish(t("B", topics.Channel.EVENTS), b"forged").value == 135
    assert not a.publish(t("A", topics.Channel.EVENTS), b"own").is_failure  # 0 or 0x10


def test_node_reads_only_its_own_downlink_and_the_hub_state(w: World) -> None:
    cloud = connected(w.cloud())
    cloud.publish(HUB, b"hub-online", retain=True)
    b = connected(w.node("B"))
    b.publish(t("B", topics.Channel.STATE), b"b-state", retain=True)
    b.subscribe(t("B", topics.Channel.DOWN))

    a = connected(w.node("A"))
    # Mosquitto 2.0 grants these SUBACKs and filters each message at delivery
    # against the read rules, so the test is what arrives, not the SUBACK.
    for f in ("#", "guanjia/v1/#", "guanjia/v1/node/+/down", "guanjia/v1/node/B/+", "$SYS/#"):
        a.subscribe(f)
    a.subscribe(t("A", topics.Channel.ACK))
    a.subscribe(t("A", topics.Channel.DOWN))

    secrets_for_b = [
        (t("B", topics.Channel.DOWN), b"b-down"),
        (t("B", topics.Channel.ACK), b"b-ack"),
        (t("B", topics.Channel.EVENTS), b"b-events"),
    ]
    for name, payload in secrets_for_b:
        cloud.publish(name, payload)
    cloud.publish(t("A", topics.Channel.ACK), b"a-ack")
    cloud.publish(t("A", topics.Channel.DOWN), b"a-down")

    seen = a.wait_for(t("A", topics.Channel.DOWN), b"a-down")
    allowed = {t("A", topics.Channel.ACK), t("A", topics.Channel.DOWN), HUB}
    assert {name for name, _, _ in seen} <= allowed, seen
    assert (HUB, b"hub-online", True) in seen  # the hub state rule works
    assert (t("A", topics.Channel.ACK), b"a-ack", False) in seen
    # Positive control: the message A did not get was really there for B.
    b.wait_for(t("B", topics.Channel.DOWN), b"b-down")


def test_node_cannot_take_over_another_nodes_session(w: World) -> None:
    cloud = connected(w.cloud())
    b = connected(w.node("B"))
    b.subscribe(t("B", topics.Channel.DOWN))

    for impostor_id in ("edge-B", "B"):
        impostor = connected(w.node("A", client_id=impostor_id))
        impostor.subscribe(t("B", topics.Channel.DOWN))
        impostor.subscribe(t("A", topics.Channel.DOWN))
        payload = f"after {impostor_id}".encode()
        cloud.publish(t("B", topics.Channel.DOWN), payload)
        cloud.publish(t("A", topics.Channel.DOWN), b"a-sentinel")
        # B was not disconnected and still gets its downlink ...
        b.wait_for(t("B", topics.Channel.DOWN), payload)
        assert b.disconnects == [] and b.is_connected
        # ... and the impostor's session is A's, which cannot read B's topics.
        seen = impostor.wait_for(t("A", topics.Channel.DOWN), b"a-sentinel")
        assert [m for m in seen if m[0] != t("A", topics.Channel.DOWN)] == []
        impostor.close()


def test_takeover_test_detects_a_takeover_without_the_listener_rule(tmp_path: Path) -> None:
    """Control: without use_username_as_clientid the same move does disconnect B."""
    store = CredentialStore(tmp_path / "store")
    pw_a, pw_b = store.enroll("A").password, store.enroll("B").password
    store.enroll_cloud()
    broker = Mosquitto(store, tmp_path)
    with broker:
        conf = broker.conf.read_text()
        broker.conf.write_text(conf.replace("use_username_as_clientid true\n", ""))
        broker.stop()  # listener options are read at start only (mosquitto.conf(5))
        broker.proc = subprocess.Popen(
            [str(find_mosquitto()), "-c", str(broker.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", broker.layout.edge_port, WAIT_S)
        port = broker.layout.edge_port
        b = connected(Peer(port, "edge-B", "B", pw_b))
        impostor = connected(Peer(port, "edge-B", "A", pw_a))
        deadline = time.monotonic() + WAIT_S
        while b.is_connected:
            assert time.monotonic() < deadline, "B was not disconnected"
            time.sleep(0.01)
        impostor.close()
        b.close()


def test_a_will_on_another_nodes_topic_is_not_delivered(w: World) -> None:
    cloud = connected(w.cloud())
    cloud.subscribe("guanjia/v1/node/+/state")
    foreign = connected(w.node("A", will=(t("B", topics.Channel.STATE), b"forged-will")))
    drop_connection(foreign)
    own = connected(w.node("A", will=(t("A", topics.Channel.STATE), b"a-offline")))
    drop_connection(own)
    seen = cloud.wait_for(t("A", topics.Channel.STATE), b"a-offline")
    assert [m for m in seen if m[1] == b"forged-will"] == []


@pytest.mark.parametrize(
    ("listener", "username", "password"),
    [
        ("edge", "A", "wrong"),
        ("edge", "nobody", "x"),
        ("edge", None, None),  # anonymous
        ("edge", DEFAULT_CLOUD_USER, "cloud"),  # the cloud account is no good on the edge side
        ("cloud", "A", "A"),  # nor a node's on the cloud side
        ("cloud", None, None),
    ],
)
def test_bad_credentials_are_refused(
    w: World, listener: str, username: str | None, password: str | None
) -> None:
    port = w.broker.layout.edge_port if listener == "edge" else w.broker.layout.cloud_port
    pw = w.pw.get(password or "", password)
    peer = Peer(port, "edge-x", username, pw)
    try:
        assert refused(peer.connect())
    finally:
        peer.close()


def legacy_events(node: str) -> str:
    """A node's events topic from before partitions: the one the hubs' group shares."""
    return str(topics.NodeTopic(node, topics.Channel.EVENTS))


def test_cloud_workers_share_one_account_and_split_the_events(w: World) -> None:
    workers = [connected(w.cloud(f"guanjia-cloud-{i}")) for i in (1, 2)]
    group = topics.subscription(topics.Channel.EVENTS, "ingest")
    for c in workers:
        assert c.subscribe(group)[0].value == 1  # granted QoS 1
    a = connected(w.node("A"))
    sent = [f"e{i}".encode() for i in range(20)]
    for p in sent:
        a.publish(legacy_events("A"), p)
    got: list[bytes] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < len(sent):
        assert time.monotonic() < deadline, f"got {got}"
        for c in workers:
            while not c.messages.empty():
                got.append(c.messages.get()[1])
        time.sleep(0.01)
    assert sorted(got) == sorted(sent)  # each exactly once over the group
    assert all(c.is_connected and c.disconnects == [] for c in workers)


# --- shared subscriptions (issue 13, finding 9) ---------------------------------------

HUB_GROUP = "guanjia-hub"  # the hub's default (cloud/settings.py); not a secret


@pytest.mark.parametrize("v5", [False, True], ids=["mqtt311", "mqtt5"])
def test_node_cannot_subscribe_to_any_shared_subscription(w: World, v5: bool) -> None:
    a = connected(w.node("A", v5=v5))
    filters = [
        topics.subscription(topics.Channel.EVENTS, HUB_GROUP),  # the hub's own group
        topics.subscription(topics.Channel.PULL, HUB_GROUP),
        f"$share/anything/{t('A', topics.Channel.ACK)}",  # even over its own topics
        "$share/g/#",
    ]
    for f in filters:
        (rc,) = a.subscribe(f)
        # SUBACK failure: 0x80 (MQTT 3.1.1 §3.9.3), 0x87 not authorized (MQTT 5 §3.9.3)
        assert rc.is_failure and rc.value == (135 if v5 else 128), (f, rc)
    # Its plain subscriptions still work.
    (ok,) = a.subscribe(t("A", topics.Channel.DOWN))
    assert not ok.is_failure


def test_a_hostile_node_cannot_take_a_share_of_the_hubs_events(w: World) -> None:
    # Before: Mosquitto granted the node's $share SUBSCRIBE, counted it in the group's
    # round robin and then dropped its turns at the read ACL: 400 of 600 reached the hub.
    group = topics.subscription(topics.Channel.EVENTS, HUB_GROUP)
    workers = [connected(w.cloud(f"guanjia-cloud-{i}")) for i in (1, 2)]
    for c in workers:
        assert c.subscribe(group)[0].value == 1
    # One connection per node (use_username_as_clientid); its SUBACK is not asserted
    # here, only what the hub gets.
    hostile = [connected(w.node("A", v5=True))]
    for peer in hostile:
        peer.subscribe(group)
        peer.subscribe(f"$share/{HUB_GROUP}/guanjia/v1/#")
    b = connected(w.node("B"))
    sent = [f"e{i}".encode() for i in range(600)]
    for p in sent:
        b.client.publish(legacy_events("B"), p, qos=1)
    b.publish(legacy_events("B"), b"last")  # waits for its PUBACK
    got: list[bytes] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < len(sent) + 1 and time.monotonic() < deadline:
        for c in workers:
            while not c.messages.empty():
                got.append(c.messages.get()[1])
        time.sleep(0.01)
    assert len(got) == len(sent) + 1, f"{len(got)} of {len(sent) + 1} reached the hub"
    assert sorted(got) == sorted([*sent, b"last"])
    assert all(peer.messages.empty() for peer in hostile)
