"""The light fleet of ``guanjia bench fanin`` (simulators/bench/fleet.py): in-memory nodes on the
real sync protocol. Through a real Mosquitto into the real ingest worker every event is
stored exactly once; and a node follows the agent's rules on resend_from and go-back-N."""

from __future__ import annotations

import random
import socket
import time
from collections import defaultdict

import pytest
from sqlalchemy import Engine, select

from cloud.db.engine import session_factory
from cloud.db.models import Event
from protocol import codec, topics
from protocol.messages import Ack
from simulators.bench.fleet import Fleet, FleetConfig, SimNode
from simulators.bench.mqtt_lite import PUBLISH, Link, split_packets
from simulators.broker import PrivateBroker
from tests.sync.harness import ingest_in_thread


@pytest.mark.e2e
def test_light_fleet_stores_every_event_exactly_once(broker: PrivateBroker, engine: Engine) -> None:
    cfg = FleetConfig(
        port=broker.port, rate=20.0, duration=1.0, connect_timeout_s=30, drain_timeout_s=30
    )
    with ingest_in_thread(engine, broker.port, client_id="cloud-fleet"):
        fleet = Fleet("lf", 5, cfg)
        result = fleet.run()
    assert result["ready"] == 5
    assert result["left_unacked"] == 0
    assert result["events"] >= 5 * 19  # 20 a second for a second, each node from its offset
    with session_factory(engine)() as s:
        rows = s.execute(
            select(Event.node_id, Event.seq, Event.type).where(Event.node_id.like("lf-%"))
        ).all()
    seqs: dict[str, list[int]] = defaultdict(list)
    scans = 0
    for node, seq, kind in rows:
        seqs[node].append(seq)
        scans += kind == "scan.recorded"
    for sim in fleet.nodes:
        assert sorted(seqs[sim.node]) == list(range(1, sim.last_seq + 1)), sim.node
    assert len(rows) == result["written_total"] == sum(s.last_seq for s in fleet.nodes)
    assert scans == result["events"]
    # Every scan's way to the hub and back is counted once (the node.started is not a scan).
    assert sum(result["ack_lag_ms"].values()) == scans
    assert all(int(ms) >= 0 for ms in result["ack_lag_ms"])


def _sent_batches(link: Link, node: str) -> list[tuple[int, int]]:
    """(first seq, last seq) of each event batch queued on the link, then clear it."""
    packets, used = split_packets(link.wbuf)
    assert used == len(link.wbuf)
    link.wbuf.clear()
    out = []
    for first, body in packets:
        n = (body[0] << 8) | body[1]
        if first & 0xF0 == PUBLISH and body[2 : 2 + n].decode() == topics.topic(
            node, topics.Channel.EVENTS
        ):
            batch = codec.decode_batch(body[4 + n :], node)
            # Stamped with the node's wall clock at send, as edge/sync.py does (issue 19).
            assert batch.sent_ms == 1_790_000_000_000
            out.append((batch.first_seq, batch.last_seq))
    return out


def test_node_resends_from_where_the_hub_asks_and_goes_back_after_silence() -> None:
    a, b = socket.socketpair()
    try:
        cfg = FleetConfig(port=1, window=2, batch_events=3, retry_s=5.0)
        t = time.monotonic()
        sim = SimNode("lf-unit", cfg, lambda: 1_790_000_000_000, random.Random(1), t)
        sim.link = Link(a)
        sim.on_connected(t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [], "nothing before the hub's first ack"
        for _ in range(9):
            sim.record_scan()  # seqs 2..10 behind node.started at 1
        sim.on_ack(Ack(node=sim.node, acked_through=0), t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(1, 3), (4, 6)], "a window of 2 batches"
        sim.on_ack(Ack(node=sim.node, acked_through=3), t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(7, 9)]
        # The hub saw a gap after 3: it asks for 4 onwards, whatever was in flight.
        sim.on_ack(Ack(node=sim.node, acked_through=3, resend_from=4), t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(4, 6), (7, 9)]
        assert sim.resends == 1
        # No ack progress for longer than retry_s: go back to acked_through + 1.
        sim.tick(t + 6)
        sim.pump(t + 6)
        assert _sent_batches(sim.link, sim.node) == [(4, 6), (7, 9)]
        assert sim.resends == 2
        sim.on_ack(Ack(node=sim.node, acked_through=10), t + 7)
        sim.pump(t + 7)
        assert sim.backlog == 0 and sim.out == []
        assert _sent_batches(sim.link, sim.node) == []
    finally:
        a.close()
        b.close()


def test_node_holds_a_tail_batch_while_another_is_in_flight() -> None:
    """As the agent does (edge/sync.py ``_drain``; tests/sync/test_tail_batches.py)."""
    a, b = socket.socketpair()
    try:
        cfg = FleetConfig(port=1, window=8, batch_events=3)
        t = time.monotonic()
        sim = SimNode("lf-tail", cfg, lambda: 1_790_000_000_000, random.Random(1), t)
        sim.link = Link(a)
        sim.on_connected(t)
        sim.on_ack(Ack(node=sim.node, acked_through=0), t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(1, 1)]  # node.started, alone
        sim.record_scan()  # 2
        sim.pump(t)
        sim.record_scan()  # 3
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [], "held behind the tail in flight"
        sim.on_ack(Ack(node=sim.node, acked_through=1), t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(2, 3)]
        for _ in range(7):
            sim.record_scan()  # 4..10
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(4, 6), (7, 9)], "full batches go"
        sim.on_ack(Ack(node=sim.node, acked_through=3), t)
        sim.pump(t)
        assert _sent_batches(sim.link, sim.node) == [(10, 10)]
    finally:
        a.close()
        b.close()
