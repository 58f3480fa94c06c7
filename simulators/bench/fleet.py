"""A light fleet for ``guanjia bench fanin``: many simulated nodes in one process, in memory.

Each simulated node speaks the real sync protocol (docs/sync.md) on its own
MQTT connection with its own client id (``edge-{node}``): a retained birth and
last will, the ``pull`` hello (again when the hub comes online), event batches
on its events topic at QoS 1, sent as soon as written with up to ``window``
batches awaiting the hub's cumulative ack (a tail batch waiting while another
is in flight), ``resend_from`` and go-back-N after
``retry_s`` without progress, periodic retained status, and the downlink
cursor. Events are real ``node.started``/``scan.recorded`` events from the
protocol codec, with a per-node HLC fed by an injected wall clock.

What it leaves out is what makes a real node heavy when one machine simulates
hundreds: no SQLite store and no fsync (the unacked outbox is a list in
memory), no asyncio and no MQTT library. One thread drives every node's socket
from one ``selectors`` loop, with a minimal MQTT 3.1.1 client (mqtt_lite.py: QoS 0 and
1, the packets a node uses), waking once per ``tick_s`` while writing. Measured
on the 2-core bench machine with one event per batch: paho-mqtt driven the same
way (``loop_read``/``loop_write``/``loop_misc``) cost 320-420 µs of CPU per
event, most of a core for 500 nodes at 5 events/s, taken from the hub being
measured; this client 130-190 µs (50 µs when the hub falls behind and batches
grow).

Run as ``python -m simulators.bench.fleet``; prints one JSON object when drained.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import os
import random
import resource
import selectors
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from protocol import codec, topics
from protocol.errors import RemoteProtocolError
from protocol.hlc import HLC, unpack
from protocol.messages import (
    MAX_BATCH_EVENTS,
    Ack,
    DownBatch,
    HubState,
    NodeStarted,
    NodeStartedPayload,
    NodeState,
    Pull,
    ScanPayload,
    ScanRecorded,
)
from simulators.bench.mqtt_lite import (
    CONNACK,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PUBACK,
    PUBLISH,
    SUBACK,
    Link,
    connect_packet,
    subscribe_packet,
)

SOFTWARE = "bench"


@dataclass(frozen=True)
class FleetConfig:
    """The knobs of a real node's ``[sync]`` section, plus the load."""

    port: int
    host: str = "127.0.0.1"
    rate: float = 5.0  # events per second per node
    duration: float = 30.0  # seconds of writing
    window: int = 8  # as a real node (edge/config.py SyncSection.window)
    batch_events: int = 500
    batch_bytes: int = 512 * 1024
    retry_s: float = 10.0
    status_s: float = 10.0
    #: A hello the hub has not answered yet is sent again after this long.
    hello_s: float = 2.0
    keepalive_s: int = 60
    #: While writing, the loop wakes once per tick (0: for every event and every packet).
    #: A write late by up to a tick is stamped when it happens, so lag figures are unaffected.
    tick_s: float = 0.02
    connect_timeout_s: float = 60.0
    drain_timeout_s: float = 120.0


def uuid7(ms: int, rng: random.Random) -> uuid.UUID:
    """A time-ordered id as the edge store makes them (RFC 9562 version 7)."""
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | rng.getrandbits(12) << 64
        | 0b10 << 62
        | rng.getrandbits(62)
    )
    return uuid.UUID(int=value)


class SimNode:
    """One node's sync state in memory, with the agent's rules (edge/sync.py)."""

    def __init__(
        self,
        node: str,
        cfg: FleetConfig,
        wall_ms: Callable[[], int],
        rng: random.Random,
        now: float,
        ack_lags: Counter[int] | None = None,
    ) -> None:
        self.node = topics.validate_node_id(node)
        self.cfg = cfg
        self.wall_ms = wall_ms
        self.rng = rng
        #: Per event, ms from its creation to the hub's ack of it reaching this node.
        self.ack_lags: Counter[int] = Counter() if ack_lags is None else ack_lags
        self.topic = {ch: topics.topic(node, ch) for ch in topics.Channel}
        self.hlc = HLC()
        self.epoch = 1
        self.last_seq = 0
        self.acked_through = 0
        self.down_applied = 0
        #: Unacked events, seq ``acked_through + 1 + i`` at index i: (hlc, encoded event).
        self.out: list[tuple[int, bytes]] = []
        self.next: int | None = None  # None until the hub's ack this session
        self.inflight: list[int] = []  # last seq of each batch awaiting the hub's ack
        self.tail: int | None = None  # last seq of the tail batch in flight (see pump)
        self.sent_at = 0.0
        self.last_progress = now
        self.hello_at = 0.0
        self.next_status = now + rng.uniform(0, cfg.status_s)
        self.link: Link | None = None
        self.connected = False  # CONNACK received
        self.hub_online = False
        self.reconnect_at: float | None = None
        self.scans = 0
        self.sent_batches = 0
        self.resends = 0
        self.reconnects = 0
        self.rejected = 0
        self.refused_acks = 0
        # The node starts its epoch before it connects, as EdgeNode does (store.start_epoch).
        self._append(
            lambda seq, hlc, eid: NodeStarted(
                node=self.node,
                epoch=self.epoch,
                seq=seq,
                id=eid,
                hlc=hlc,
                payload=NodeStartedPayload(software=SOFTWARE, station_kind="demo"),
            )
        )

    # --- the outbox -----------------------------------------------------------------------

    def _append(self, build: Callable[[int, int, uuid.UUID], Any]) -> None:
        wall = self.wall_ms()
        hlc = self.hlc.now(wall)
        self.last_seq += 1
        event = build(self.last_seq, hlc, uuid7(wall, self.rng))
        self.out.append((hlc, codec.encode_event(event)))

    def record_scan(self) -> None:
        payload = ScanPayload(station="pack-1", barcode=f"69{self.scans:011d}", verdict="unknown")
        self._append(
            lambda seq, hlc, eid: ScanRecorded(
                node=self.node, epoch=self.epoch, seq=seq, id=eid, hlc=hlc, payload=payload
            )
        )
        self.scans += 1

    @property
    def backlog(self) -> int:
        return self.last_seq - self.acked_through

    # --- messages out -------------------------------------------------------------------

    def will(self) -> bytes:
        return codec.encode(NodeState(node=self.node, online=False))

    def state(self) -> NodeState:
        oldest = None
        if self.out:
            oldest = max(0.0, (self.wall_ms() - unpack(self.out[0][0])[0]) / 1000)
        return NodeState(
            node=self.node,
            online=True,
            epoch=self.epoch,
            software=SOFTWARE,
            last_seq=self.last_seq,
            acked_through=self.acked_through,
            backlog=self.backlog,
            oldest_unacked_age_s=oldest,
        )

    def _publish(self, channel: topics.Channel, payload: bytes, retain: bool = False) -> None:
        assert self.link is not None
        self.link.publish(self.topic[channel], payload, retain)

    def publish_state(self, now: float) -> None:
        self._publish(topics.Channel.STATE, codec.encode(self.state()), retain=True)
        self.next_status = now + self.cfg.status_s

    def hello(self, now: float) -> None:
        self._publish(
            topics.Channel.PULL, codec.encode(Pull(node=self.node, after=self.down_applied))
        )
        self.hello_at = now

    def pump(self, now: float) -> None:
        """Queue what is pending, up to ``window`` batches in flight (the agent's drain)."""
        if not self.connected or self.next is None:
            return
        while len(self.inflight) < self.cfg.window:
            start = self.next - self.acked_through - 1
            if start >= len(self.out):
                return
            bodies: list[bytes] = []
            size = 0
            for _, body in self.out[start : start + min(self.cfg.batch_events, MAX_BATCH_EVENTS)]:
                if bodies and size + len(body) > self.cfg.batch_bytes:
                    break
                bodies.append(body)
                size += len(body)
            # A tail batch (all that is pending) waits while another tail is in flight, as
            # the agent's does (edge/sync.py ``_drain``: Nagle's rule, full batches still
            # fill the window).
            tail = start + len(bodies) >= len(self.out)
            if tail and self.tail is not None and self.tail > self.acked_through:
                return
            # The send time, as edge/sync.py stamps it: the hub judges a node's clock by it,
            # so a backlog drained after an outage is late, not a suspect clock (issue 19).
            wall = self.wall_ms()
            sent_ms = wall if 0 <= wall <= codec.MAX_SENT_MS else None
            self._publish(topics.Channel.EVENTS, codec.encode_batch(self.node, bodies, sent_ms))
            if not self.inflight:
                self.sent_at = now
            last = self.next + len(bodies) - 1
            if tail:
                self.tail = last
            self.inflight.append(last)
            self.next = last + 1
            self.sent_batches += 1

    # --- messages in --------------------------------------------------------------------

    def on_connected(self, now: float) -> None:
        self.connected = True
        self.last_progress = now  # the watchdog counts from the connect
        self.publish_state(now)
        assert self.link is not None
        filters = [
            (self.topic[topics.Channel.ACK], 1),
            (self.topic[topics.Channel.DOWN], 1),
            (topics.HUB_STATE, 1),
        ]
        self.link.wbuf += subscribe_packet(self.link.next_mid(), filters)
        self.hello(now)

    def on_lost(self, now: float) -> None:
        self.link = None
        self.connected = False
        self.hub_online = False
        self.next = None
        self.inflight.clear()
        self.tail = None
        self.reconnect_at = now + self.rng.uniform(0.2, 1.0)

    def on_message(self, name: str, payload: bytes, now: float) -> None:
        try:
            if name == topics.HUB_STATE:
                was = self.hub_online
                self.hub_online = codec.decode(HubState, payload).online
                if self.hub_online and not was:
                    self.hello(now)
            elif name == self.topic[topics.Channel.ACK]:
                self.on_ack(codec.decode(Ack, payload), now)
            elif name == self.topic[topics.Channel.DOWN] and not self.on_down(
                codec.decode(DownBatch, payload)
            ):
                self.hello(now)
        except RemoteProtocolError:
            self.rejected += 1

    def on_ack(self, ack: Ack, now: float) -> None:
        self.hub_online = True  # an ack is proof enough
        if ack.acked_through > self.last_seq:
            # The hub knows more of this node than the node does: never send over it.
            self.refused_acks += 1
            return
        moved = ack.acked_through > self.acked_through
        if moved:
            done = ack.acked_through - self.acked_through
            wall = self.wall_ms()
            # Scans only, as the hub-side figure: seq 1 is the node.started of before connecting.
            scans = self.out[:done] if self.acked_through else self.out[1:done]
            self.ack_lags.update(wall - unpack(hlc)[0] for hlc, _ in scans)
            del self.out[:done]
            self.acked_through = ack.acked_through
        if moved or self.next is None:
            self.last_progress = now
        if self.next is None or ack.resend_from is not None:
            # Resume exactly where the hub is, whatever was sent before.
            self.next = ack.resend_from or ack.acked_through + 1
            if ack.resend_from is not None:
                self.resends += 1
            self.inflight.clear()
            self.tail = None
        else:
            self.next = max(self.next, ack.acked_through + 1)
            self.inflight = [s for s in self.inflight if s > ack.acked_through]

    def on_down(self, batch: DownBatch) -> bool:
        """Take a downlink batch's cursor (nothing to apply it to); False when one is missing."""
        before = self.down_applied
        if batch.after is not None:
            if batch.after > before:
                return False
        elif batch.changes and batch.changes[0].seq > before + 1:
            return False
        if batch.changes:
            self.down_applied = max(before, batch.changes[-1].seq)
        return self.down_applied >= batch.head

    def tick(self, now: float) -> None:
        """The agent's timers: hello until answered, go-back-N, status, keepalive."""
        if self.backlog == 0:
            self.last_progress = now  # nothing waits: nothing can be stuck
        if self.next is None:
            if now - self.hello_at > self.cfg.hello_s:
                self.hello(now)
        else:
            stalled = now - max(self.sent_at, self.last_progress) > self.cfg.retry_s
            if self.inflight and stalled:
                self.next = self.acked_through + 1
                self.inflight.clear()
                self.tail = None
                self.resends += 1
            if now >= self.next_status:
                self.publish_state(now)
        link = self.link
        if link is not None and not link.wbuf and now - link.last_tx > self.cfg.keepalive_s / 2:
            link.wbuf += PINGREQ_PACKET


class Fleet:
    """N simulated nodes on one selector loop in one thread."""

    def __init__(
        self,
        prefix: str,
        nodes: int,
        cfg: FleetConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.rng = random.Random()  # seeded from the OS: event ids unique across processes
        self.sel = selectors.DefaultSelector()
        self._clock = clock
        now = time.monotonic()
        self.ack_lags: Counter[int] = Counter()
        self.nodes = [
            SimNode(f"{prefix}-{i:04d}", cfg, self.wall_ms, self.rng, now, self.ack_lags)
            for i in range(nodes)
        ]
        self.late_ms: list[float] = []

    def wall_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- connections --------------------------------------------------------------------

    def _connect(self, sim: SimNode, now: float) -> None:
        if sim.reconnect_at is not None:
            sim.reconnects += 1
        sim.reconnect_at = None
        try:
            sock = socket.create_connection((self.cfg.host, self.cfg.port), timeout=5)
        except OSError:
            sim.reconnect_at = now + self.rng.uniform(0.5, 2.0)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        link = Link(sock)
        link.wbuf += connect_packet(
            f"edge-{sim.node}", self.cfg.keepalive_s, sim.topic[topics.Channel.STATE], sim.will()
        )
        sim.link = link
        self.sel.register(sock, selectors.EVENT_READ, sim)
        self._flush(sim, now)

    def _drop(self, sim: SimNode, now: float) -> None:
        link = sim.link
        if link is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(link.sock)
        link.sock.close()
        sim.on_lost(now)

    def _flush(self, sim: SimNode, now: float) -> None:
        """Queue what the node has to send, and write everything queued in one send."""
        sim.pump(now)
        link = sim.link
        if link is None or not link.wbuf:
            return
        try:
            full = link.send()
        except BlockingIOError:
            full = True
        except OSError:
            self._drop(sim, now)
            return
        if full != link.want_write:
            link.want_write = full
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if full else 0)
            self.sel.modify(link.sock, events, sim)

    def _on_readable(self, sim: SimNode, now: float) -> None:
        link = sim.link
        assert link is not None
        try:
            packets = link.receive()
        except BlockingIOError:
            return
        except (OSError, RemoteProtocolError):
            packets = None
        if packets is None:
            self._drop(sim, now)
            return
        for first, body in packets:
            kind = first & 0xF0
            if kind == PUBLISH:
                n = (body[0] << 8) | body[1]
                name = body[2 : 2 + n].decode()
                p = 2 + n
                if first & 0x06:  # QoS 1: our PUBACK, sent with what the node sends next
                    link.pubacks += bytes((PUBACK, 2)) + body[p : p + 2]
                    p += 2
                sim.on_message(name, body[p:], now)
            elif kind == CONNACK:
                if body[1] != 0:  # refused: try again later, as a real node would
                    self._drop(sim, now)
                    return
                sim.on_connected(now)
            elif kind == SUBACK and 0x80 in body[2:]:
                self._drop(sim, now)  # a refused subscription would leave the node deaf
                return
            # PUBACK (the broker took a publish) and PINGRESP need nothing: only the hub's
            # ack marks events delivered.

    def _io(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            sim: SimNode = key.data
            now = time.monotonic()
            if mask & selectors.EVENT_READ:
                self._on_readable(sim, now)
            if sim.link is not None:
                self._flush(sim, now)

    def _sweep(self, now: float) -> None:
        for sim in self.nodes:
            if sim.link is None:
                if sim.reconnect_at is not None and now >= sim.reconnect_at:
                    self._connect(sim, now)
                continue
            if sim.connected:
                sim.tick(now)
                sim.link.wbuf += sim.link.pubacks  # owed for up to a second at most
                sim.link.pubacks.clear()
                self._flush(sim, now)

    def _spin(self, until: float, done: Callable[[], bool]) -> None:
        """IO and timers, no writes, until ``until`` or ``done()``."""
        next_sweep = time.monotonic()
        while not done():
            now = time.monotonic()
            if now >= until:
                return
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + 1.0
            self._io(max(0.0, min(until, next_sweep) - now))

    # --- the run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        t0 = time.monotonic()
        for sim in self.nodes:
            self._connect(sim, t0)
            self._io(0)  # take CONNACKs and acks as they come while the others connect
        self._spin(t0 + cfg.connect_timeout_s, lambda: all(s.next is not None for s in self.nodes))
        ready = sum(s.next is not None for s in self.nodes)
        cpu0 = os.times()
        start = time.monotonic()
        period = 1 / cfg.rate
        end = start + cfg.duration
        # Nodes do not scan in lockstep: each starts at its own offset within one period.
        due = [(start + self.rng.uniform(0, period), i) for i in range(len(self.nodes))]
        heapq.heapify(due)
        next_sweep = start
        while due:
            now = time.monotonic()
            while due and due[0][0] <= now:
                at, i = heapq.heappop(due)
                sim = self.nodes[i]
                sim.record_scan()  # the event's HLC is taken now, as a real store does
                self.late_ms.append((now - at) * 1000)
                self._flush(sim, now)  # sent as soon as written: the agent's kick
                if at + period < end:
                    heapq.heappush(due, (at + period, i))
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + 1.0
            if not due:
                break
            if cfg.tick_s > 0:
                # Wake once a tick and take all that is due and all that arrived: waking for
                # every event and every ack cost this fleet more CPU than the work itself.
                self._io(0)
                time.sleep(max(0.0, now + cfg.tick_s - time.monotonic()))
            else:
                self._io(max(0.0, min(due[0][0], next_sweep) - time.monotonic()))
        stop = time.monotonic()
        cpu1 = os.times()
        self._spin(stop + cfg.drain_timeout_s, lambda: all(s.backlog == 0 for s in self.nodes))
        drained = time.monotonic() - stop
        for sim in self.nodes:
            if sim.link is not None:
                sim.link.wbuf += DISCONNECT_PACKET  # a clean stop: no last will
                self._flush(sim, time.monotonic())
                self._drop(sim, time.monotonic())
        self.sel.close()
        late = sorted(self.late_ms)
        cpu = os.times()
        return {
            "nodes": float(len(self.nodes)),
            "ready": float(ready),
            "events": float(sum(s.scans for s in self.nodes)),
            "written_total": float(sum(s.last_seq for s in self.nodes)),
            "connected_s": start - t0,
            "drained_after_stop_s": drained,
            "left_unacked": float(sum(s.backlog for s in self.nodes)),
            "batches": float(sum(s.sent_batches for s in self.nodes)),
            "resends": float(sum(s.resends for s in self.nodes)),
            "reconnects": float(sum(s.reconnects for s in self.nodes)),
            "rejected": float(sum(s.rejected + s.refused_acks for s in self.nodes)),
            "write_late_p99_ms": late[int(0.99 * (len(late) - 1))] if late else 0.0,
            "write_late_max_ms": late[-1] if late else 0.0,
            #: CPU while writing only, per event: what one simulated event costs this fleet.
            "cpu_us_per_event": (cpu1.user + cpu1.system - cpu0.user - cpu0.system)
            / max(1, sum(s.scans for s in self.nodes))
            * 1e6,
            "cpu_s": cpu.user + cpu.system,
            #: ms from an event's creation to its ack reaching the node -> events (end to end:
            #: the hub's commit and the ack's way back included; read once per tick).
            "ack_lag_ms": {str(ms): n for ms, n in sorted(self.ack_lags.items())},
        }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m simulators.bench.fleet", description=__doc__)
    p.add_argument("--prefix", required=True, help="node ids are PREFIX-0000, PREFIX-0001, ...")
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--rate", type=float, default=5.0, help="events per second per node")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of writing")
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--status-interval", type=float, default=10.0)
    a = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.nodes * 2 + 256)), hard))
    cfg = FleetConfig(
        port=a.mqtt_port,
        host=a.mqtt_host,
        rate=a.rate,
        duration=a.duration,
        status_s=a.status_interval,
    )
    result = Fleet(a.prefix, a.nodes, cfg).run()
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
