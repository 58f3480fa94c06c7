"""MQTT isolation as a matrix: one node's credential tries every forbidden action it can
(issue 19, "What to build"), on a real Mosquitto running the generated password file and
ACL — and none succeeds. The test counts attempts and successes and prints them.

What counts as a success, since MQTT 3.1.1 cannot say "denied" (§3.4: a PUBACK carries no
reason; Mosquitto acknowledges a denied PUBLISH and drops it):

* a forbidden PUBLISH succeeded if the hub's credential, subscribed to everything it may
  read (``guanjia/v1/#``), receives it before a sentinel sent after it, or if an MQTT 5
  PUBACK has no failure reason (0x87 "not authorized" is the refusal, MQTT 5 §3.4.2.1).
  Topics outside ``guanjia/v1/`` are beyond the hub's sight, so those are tried over
  MQTT 5 only, judged by the PUBACK;
* a forbidden SUBSCRIBE succeeded if anything the node may not read arrives through it:
  the hub's credential publishes a probe on every other topic of the layout, then a
  sentinel on the node's own downlink (Mosquitto 2 grants most such SUBACKs and filters at
  delivery, so delivery is the test); ``$SYS/broker/version`` is retained, so a
  ``$SYS`` subscription that worked would deliver it at once;
* a client-id takeover succeeded if a victim (another node, the hub) is disconnected.

Malformed topic names (wildcards in a PUBLISH, NUL, invalid UTF-8, an empty name) cannot be
sent with paho, which validates them; they go over a raw socket (MQTT 3.1.1 §2, §3.3).

The short form (two other nodes, a few hundred attempts) runs in ``make test``; the full
form (twelve other nodes, over a thousand) with ``--long``.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cloud.sync.enroll import DEFAULT_CLOUD_USER, CredentialStore
from protocol import topics
from tests.sync.test_isolation import WAIT_S, Mosquitto, Peer, needs_mosquitto

pytestmark = needs_mosquitto

HOSTILE = "A"
CH = list(topics.Channel)
HUB = topics.HUB_STATE
P = topics.PREFIX


def t(node: str, ch: topics.Channel) -> str:
    return topics.topic(node, ch)


@dataclass
class Tally:
    attempts: Counter[str] = field(default_factory=Counter)
    successes: list[str] = field(default_factory=list)

    def total(self) -> int:
        return sum(self.attempts.values())


@dataclass
class Matrix:
    broker: Mosquitto
    others: list[str]
    pw: dict[str, str]

    def node(self, node: str, client_id: str | None = None, *, v5: bool = False) -> Peer:
        port = self.broker.layout.edge_port
        return Peer(port, client_id or f"edge-{node}", node, self.pw[node], v5=v5)

    def hub(self, client_id: str = "guanjia-cloud-1") -> Peer:
        port = self.broker.layout.cloud_port
        return Peer(port, client_id, DEFAULT_CLOUD_USER, self.pw[DEFAULT_CLOUD_USER])


class WeakenedMosquitto(Mosquitto):
    """The generated config with extra lines in the edge ACL: the matrix's control."""

    def __init__(self, store: CredentialStore, workdir: Path, extra_acl: str) -> None:
        super().__init__(store, workdir)
        self.extra_acl = extra_acl

    def write_config(self) -> None:
        super().write_config()
        conf = self.conf.read_text(encoding="utf-8")
        # The edge listener comes first in the generated config, with its acl_file.
        edge_acl = next(ln.split(" ", 1)[1] for ln in conf.splitlines() if ln.startswith("acl_"))
        with open(edge_acl, "a", encoding="utf-8") as f:
            f.write(self.extra_acl)


def _matrix(tmp: Path, others: int, extra_acl: str = "") -> Iterator[Matrix]:
    store = CredentialStore(tmp / "store")
    names = [f"N{i:02d}" for i in range(others)]
    pw = {n: store.enroll(n).password for n in [HOSTILE, *names]}
    pw[DEFAULT_CLOUD_USER] = store.enroll_cloud().password
    broker = WeakenedMosquitto(store, tmp, extra_acl) if extra_acl else Mosquitto(store, tmp)
    with broker:
        yield Matrix(broker, names, pw)


# --- what is forbidden ----------------------------------------------------------------


def publish_topics(others: list[str]) -> list[str]:
    """Topics under the prefix a node must not publish to (the hub sees all of them)."""
    a = HOSTILE
    out = [t(n, ch) for n in others for ch in CH]  # other nodes' topics, every channel
    out += [t(a, topics.Channel.ACK), t(a, topics.Channel.DOWN)]  # hub -> node only
    out += [HUB, f"{HUB}/x", f"{P}/hub", f"{P}/hub/", f"{P}/node/{others[0]}", P, f"{P}/"]
    out += [
        f"{t(a, topics.Channel.EVENTS)}/",  # an empty level after its own topic
        f"{t(a, topics.Channel.EVENTS)}/extra",
        f"{P}/node//events",  # an empty node level
        f"{P}//{a}/events",
        f"{P}/node/{a}//events",
        f"{P}/node/{a.lower()}/events",  # another user's name by case
        f"{P}/node/\uff21/events",  # FULLWIDTH LATIN CAPITAL A
        f"{P}/node/{a}\u200b/events",  # a zero-width space after the name
        f"{P}/node/{a} /events",
        f"{P}/node/{a}/EVENTS",
        f"{P}/node/%u/events",  # the ACL's own placeholder, literally
        f"{P}/node/%c/down",
        f"{P}/node/{a}/events/" + "x" * 60_000,  # very long (the limit is 65,535 bytes)
        f"{P}/node/{others[0]}/events\u0301",  # a combining accent on the last level
    ]
    return out


#: Outside the hub's sight: judged by the MQTT 5 PUBACK alone.
OUTSIDE = [
    "elsewhere",
    f"/{P}/node/{HOSTILE}/events",  # a leading empty level
    f"Guanjia/v1/node/{HOSTILE}/events",
    f"guanjia/V1/node/{HOSTILE}/events",
    f"\ufeff{P}/node/{HOSTILE}/events",  # a byte-order mark first
    "$SYS/broker/uptime",
    f"$share/g/{P}/node/{HOSTILE}/events",  # a $share "topic" in a PUBLISH
    "$guanjia",
    "x" * 65_000,
]


def raw_topics(others: list[str]) -> list[bytes]:
    """Names paho refuses to send: wildcards, NUL, invalid UTF-8, empty (MQTT 3.1.1 §4.7)."""
    b = others[0]
    return [
        f"{P}/node/+/events".encode(),
        f"{P}/node/{b}/#".encode(),
        f"{P}/#".encode(),
        b"#",
        f"{P}/node/{HOSTILE}/events/+".encode(),
        f"{P}/node/{HOSTILE}\x00/events".encode(),
        f"{P}/node/{b}/events\x00".encode(),
        f"{P}/node/".encode() + b"\xc0\xaf" + b"/events",  # an overlong "/"
        f"{P}/node/{b}".encode() + b"\xed\xa0\x80/events",  # a UTF-16 surrogate
        f"{P}/node/".encode() + b"\xff/events",
        b"",
    ]


def subscribe_filters(others: list[str]) -> list[str]:
    a = HOSTILE
    out = ["#", "+", "+/+", "+/#", "/#", "guanjia/#", f"{P}/#", f"{P}/+", f"{P}/+/#"]
    out += [f"{P}/node/#", f"{P}/node/+", f"{P}/node/+/+", f"{P}/node/+/#"]
    out += [f"{P}/node/+/{ch.value}" for ch in CH]
    out += [t(a, topics.Channel.EVENTS), t(a, topics.Channel.STATE), t(a, topics.Channel.PULL)]
    out += [f"{P}/node/{a}/#", f"{P}/node/{a}/+"]  # its own uplink is not its to read
    out += ["$SYS/#", "$SYS/broker/version", "$SYS/+/+", "$share/g/#", f"$share/g/{P}/#"]
    out += [f"$share/{ch.value}/{P}/node/+/{ch.value}" for ch in CH]
    out += [f"$share/x/{t(a, topics.Channel.DOWN)}", f"$share/x/{HUB}"]
    out += [f"{P}/node/%u/#", f"{P}/node/%c/#"]
    for n in others:
        out += [f"{P}/node/{n}/#", f"{P}/node/{n}/+", t(n, topics.Channel.DOWN)]
        out += [t(n, topics.Channel.ACK), f"$share/x/{t(n, topics.Channel.DOWN)}"]
    return out


def probe_topics(others: list[str]) -> list[str]:
    """Every topic the hub can publish that the hostile node may not read."""
    a = HOSTILE
    out = [t(n, ch) for n in others for ch in CH]
    out += [t(a, topics.Channel.EVENTS), t(a, topics.Channel.STATE), t(a, topics.Channel.PULL)]
    out += [f"{P}/other", f"{P}/node/{a}/x", f"{HUB}/x"]
    return out


ALLOWED_READS = {t(HOSTILE, topics.Channel.ACK), t(HOSTILE, topics.Channel.DOWN), HUB}


# --- raw MQTT 3.1.1 -------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = b""
    while True:
        n, digit = divmod(n, 128)
        out += bytes([digit | (0x80 if n else 0)])
        if not n:
            return out


def _s(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def raw_publish(port: int, user: str, password: str, topic: bytes, qos: int, retain: bool) -> str:
    """CONNECT, PUBLISH ``topic`` as raw bytes, PINGREQ; how the broker answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        body = _s(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 30)
        body += _s(f"edge-{user}".encode()) + _s(user.encode()) + _s(password.encode())
        sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = sock.recv(4)
        assert connack[:2] == b"\x20\x02" and connack[3] == 0, connack
        var = _s(topic) + (b"\x00\x01" if qos else b"")
        sock.sendall(bytes([0x30 | qos << 1 | retain]) + _varint(len(var) + 6) + var + b"forged")
        # A PINGREQ after it: its PINGRESP (or the close) says the PUBLISH was processed.
        sock.sendall(b"\xc0\x00")
        got = b""
        try:
            while chunk := sock.recv(64):
                got += chunk
                if got.endswith(b"\xd0\x00"):
                    return "processed"
        except OSError:
            pass
        return "disconnected"


# --- the matrix -----------------------------------------------------------------------


def run_matrix(m: Matrix) -> Tally:
    tally = Tally()
    others = m.others
    hub = m.hub()
    assert not hub.connect().is_failure
    hub.subscribe(f"{P}/#")
    victims = [m.node(n) for n in others]
    for v in victims:
        assert not v.connect().is_failure
    watcher = m.hub("guanjia-cloud-2")  # a victim on the hub's side too
    assert not watcher.connect().is_failure
    a_events = t(HOSTILE, topics.Channel.EVENTS)
    sentinel_n = 0

    def delivered_before_sentinel(via: Peer) -> list[tuple[str, bytes, bool]]:
        nonlocal sentinel_n
        sentinel_n += 1
        mark = f"sentinel-{sentinel_n}".encode()
        assert not via.publish(a_events, mark).is_failure
        return [msg for msg in hub.wait_for(a_events, mark) if msg[1] != mark]

    # 1. Publishes over paho, MQTT 3.1.1 and 5, QoS 0 and 1, retained or not.
    names = publish_topics(others)
    for v5 in (False, True):
        a = m.node(HOSTILE, v5=v5)
        assert not a.connect().is_failure
        proto = "5" if v5 else "3.1.1"
        for qos in (0, 1):
            for retain in (False, True):
                for name in names + (OUTSIDE if v5 and qos else []):
                    info = a.client.publish(name, b"forged", qos=qos, retain=retain)
                    tally.attempts[f"publish (MQTT {proto})"] += 1
                    if qos and v5:
                        rc = a._wait(info.mid)
                        if not getattr(rc, "is_failure", False):
                            tally.successes.append(f"PUBACK {rc} for {name[:80]!r}")
        leaked = delivered_before_sentinel(a)
        tally.successes += [f"hub got {tp[:80]!r}" for tp, _, _ in leaked]
        a.close()

    # 2. Malformed names over a raw socket (each closes its connection).
    port = m.broker.layout.edge_port
    for raw in raw_topics(others):
        for qos in (0, 1):
            for retain in (False, True):
                raw_publish(port, HOSTILE, m.pw[HOSTILE], raw, qos, retain)
                tally.attempts["publish (raw, malformed name)"] += 1
    a = m.node(HOSTILE)
    assert not a.connect().is_failure
    tally.successes += [f"hub got {tp[:80]!r}" for tp, _, _ in delivered_before_sentinel(a)]
    a.close()

    # 3. Subscriptions, then the hub publishes on every topic the node may not read.
    filters = subscribe_filters(others)
    probes = probe_topics(others)
    for v5 in (False, True):
        for qos in (0, 1):
            a = m.node(HOSTILE, v5=v5)
            assert not a.connect().is_failure
            for f in filters:
                _, mid = a.client.subscribe(f, qos=qos)
                a._wait(mid)  # the SUBACK itself is not the verdict
                tally.attempts[f"subscribe (MQTT {'5' if v5 else '3.1.1'})"] += 1
            for p in probes:
                hub.publish(p, b"probe")
            hub.publish(t(HOSTILE, topics.Channel.DOWN), b"sub-sentinel")
            seen = a.wait_for(t(HOSTILE, topics.Channel.DOWN), b"sub-sentinel")
            for name, _, _ in seen:
                if name not in ALLOWED_READS:
                    hits = [f for f in filters if mqtt.topic_matches_sub(f, name)]
                    tally.successes.append(f"read {name!r} through {hits or filters}")
            a.close()

    # 4. Client-id takeover: the hostile credential under every other client id.
    ids = [f"edge-{n}" for n in others] + list(others)
    ids += ["guanjia-cloud-1", "guanjia-cloud-2", DEFAULT_CLOUD_USER, "", "edge-", "#", "+"]
    for v5 in (False, True):
        for cid in ids:
            a = m.node(HOSTILE, cid, v5=v5)
            a.connect()
            tally.attempts["client-id takeover"] += 1
            a.close()
    time.sleep(0.2)  # a kicked victim's close reaches its network thread
    for v in [*victims, hub, watcher]:
        if v.disconnects or not v.is_connected:
            tally.successes.append(f"a victim was disconnected: {v.disconnects}")
    for v in [*victims, hub, watcher]:
        v.close()
    return tally


def _report(tally: Tally, seconds: float, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(
            f"\nMQTT isolation matrix: {tally.total()} forbidden attempts, "
            f"{len(tally.successes)} succeeded, {seconds:.1f} s"
        )
        for kind, n in sorted(tally.attempts.items()):
            print(f"  {kind}: {n}")
    assert tally.successes == []


def test_isolation_matrix_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = time.monotonic()
    for m in _matrix(tmp_path, others=2):
        tally = run_matrix(m)
    assert tally.total() >= 300
    _report(tally, time.monotonic() - start, capsys)


@pytest.mark.slow
def test_isolation_matrix_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = time.monotonic()
    for m in _matrix(tmp_path, others=12):
        tally = run_matrix(m)
    assert tally.total() >= 1000
    _report(tally, time.monotonic() - start, capsys)


def test_the_matrix_sees_a_hole_in_the_acl(tmp_path: Path) -> None:
    """Control: one extra line granting node A another node's topics, and the matrix counts
    forbidden publishes and subscriptions that got through."""
    hole = f"\nuser {HOSTILE}\ntopic readwrite {P}/node/N00/#\n"
    for m in _matrix(tmp_path, others=2, extra_acl=hole):
        tally = run_matrix(m)
    assert any(s.startswith("hub got 'guanjia/v1/node/N00/") for s in tally.successes)
    assert any(s.startswith("PUBACK") for s in tally.successes)
    assert any(s.startswith("read 'guanjia/v1/node/N00/") for s in tally.successes)
    assert not any("N01" in s for s in tally.successes)  # the rest still holds
