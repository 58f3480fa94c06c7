"""Fault tests: kill -9 at random points, broker crashes, long outages.

After each storm the invariant is the same: every event the node committed is
in the cloud exactly once, with the content the node committed; the node's
database passes ``PRAGMA integrity_check``; every verdict the operator saw is
among them. ``--long`` runs the long form (1,000 kills).
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from simulators.broker import PrivateBroker
from simulators.net import free_port, wait_for_port
from tests.support import wait
from tests.sync.harness import EdgeDaemon, Feeder, cloud_acked, cloud_events, ingest_in_thread

pytestmark = pytest.mark.e2e


def assert_converged(edge: EdgeDaemon, engine: Engine, timeout: float = 60) -> int:
    # Scans still in the node's socket buffer are committed after the feeder stops:
    # wait until the node's sequence stands still and the cloud has acked all of it.
    seen = [-1]

    def settled() -> bool:
        last = edge.last_seq()
        still = last == seen[0] and cloud_acked(engine) == last
        seen[0] = last
        if not still:
            time.sleep(0.3)
        return still

    wait(settled, timeout, "the node to settle and the cloud to ack all of it")
    last = seen[0]
    count, top, cloud_scans = cloud_events(engine)
    assert (count, top) == (last, last), "every committed event exactly once, none extra"
    node_scans = edge.scans()
    assert cloud_scans == node_scans, "the cloud holds exactly what the node committed"
    assert len(set(cloud_scans.values())) == len(cloud_scans), "no scan doubled"
    assert edge.integrity() == "ok"
    shown = [r for r in edge.records() if r.get("signal") in ("ok", "error")]
    committed = {
        int(r["seq"]): r["barcode"] for r in edge.records() if "seq" in r and "barcode" in r
    }
    assert len(shown) <= len(committed)
    for seq, barcode in committed.items():
        assert cloud_scans.get(seq) == barcode, (
            f"committed seq {seq} ({barcode}) missing in the cloud"
        )
    return last


def kill_storm(edge: EdgeDaemon, kills: int, rng: random.Random) -> None:
    with Feeder(edge.scanner_port):
        for _ in range(kills):
            edge.start()
            time.sleep(rng.uniform(0.02, 0.3))
            edge.kill9()
        edge.start()
        time.sleep(0.3)
    time.sleep(0.2)


@pytest.mark.parametrize(
    "kills",
    [pytest.param(50, id="50-kills"), pytest.param(1000, id="1000-kills", marks=pytest.mark.slow)],
)
def test_kill9_edge_during_a_burst(
    broker: PrivateBroker, engine: Engine, tmp_path: Path, kills: int
) -> None:
    edge = EdgeDaemon(tmp_path, broker.port)
    with ingest_in_thread(engine, broker.port):
        try:
            kill_storm(edge, kills, random.Random(kills))
            last = assert_converged(edge, engine)
        finally:
            edge.stop()
    assert last > kills  # scans really flowed between the kills
    assert edge.starts == kills + 1


def test_broker_killed_and_restarted_mid_sync(engine: Engine, tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path / "broker").start()
    edge = EdgeDaemon(tmp_path, broker.port)
    try:
        with ingest_in_thread(engine, broker.port):
            edge.start()
            with Feeder(edge.scanner_port):
                for _ in range(5):
                    time.sleep(0.4)
                    broker.kill()
                    time.sleep(0.3)
                    broker.start()
            assert_converged(edge, engine)
    finally:
        edge.stop()
        broker.stop()


def test_cloud_killed_mid_batch(
    broker: PrivateBroker, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """The hub process dies by SIGKILL mid-stream, repeatedly; nothing is lost or doubled."""
    edge = EdgeDaemon(tmp_path, broker.port)
    rng = random.Random(7)

    def cloud() -> subprocess.Popen[bytes]:
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloud",
                "serve",
                "--port",
                str(port),
                "--database-url",
                db_url,
                "--mqtt-port",
                str(broker.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", port, 30)
        return proc

    proc = cloud()
    try:
        edge.start()
        with Feeder(edge.scanner_port):
            for _ in range(5):
                time.sleep(rng.uniform(0.2, 0.6))
                proc.kill()
                proc.wait()
                proc = cloud()
        assert_converged(edge, engine)
    finally:
        edge.stop()
        proc.kill()
        proc.wait()


def test_long_outage_with_thousands_queued(engine: Engine, tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path / "broker").start()
    edge = EdgeDaemon(tmp_path, broker.port)
    try:
        with ingest_in_thread(engine, broker.port):
            edge.start()
            wait(lambda: cloud_acked(engine) >= 1, 20, "the first sync")
            broker.kill()
            with Feeder(edge.scanner_port, interval=0.0005):
                wait(lambda: edge.last_seq() >= 5000, 60, "5,000 scans committed offline")
            assert cloud_acked(engine) < 5000
            broker.start()
            assert_converged(edge, engine, timeout=60)
    finally:
        edge.stop()
        broker.stop()
