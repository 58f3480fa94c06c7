"""The chaos suite's short forms (``guanjia chaos …``, docs/chaos.md): partition, clock
jumps, full and read-only disk, SQLite I/O errors. The kill and broker storms run in
tests/sync/test_faults.py. Each scenario checks its own invariant; these tests also check
that a broken invariant is reported (the checker can fail) and that the command exits
non-zero on one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.chaos import scenarios, storage
from simulators.chaos.invariants import Figures, HubReader, check
from simulators.chaos.procs import Relay

pytestmark = pytest.mark.e2e


def held(fig: Figures) -> Figures:
    assert fig.ok, "\n".join(fig.lines())
    return fig


def test_a_partition_queues_alarms_within_its_bound_and_converges(
    db_url: str, tmp_path: Path
) -> None:
    fig = held(scenarios.partition(tmp_path, seconds=5, events=150, database_url=db_url))
    assert fig.notes["queued at heal"] >= 150
    assert fig.events >= 155
    assert "bound 2 s" in fig.notes["alarm after"]


# make test runs the two jumps that matter most (no RTC at boot, a year ahead); the ±288 s
# ones run with --long (each a hub and a daemon of their own, ~15 s on the 2-core CI).
@pytest.mark.parametrize(
    "jump",
    [
        pytest.param(j, marks=[pytest.mark.slow] if j in ("-288s", "+288s") else [])
        for j in scenarios.JUMPS
    ],
)
def test_clock_jumps(jump: str, tmp_path: Path) -> None:
    # The hub's database is SQLite here: the fault is the node's clock (the kill, partition
    # and I/O-error tests run on both databases).
    fig = held(scenarios.clock(tmp_path, jump, scans=10))
    assert fig.notes["suspect after fix"] == 0
    # A year ahead and a 1970 clock are flagged while they last: the batches' send time
    # (sent_ms) is the node's wall clock, off by far more than the hub's 300 s bound
    # (under 1970 the HLC stamps events with the last time it stored, wrong too); ±288 s
    # is within the bound, so not flagged.
    assert (fig.notes["suspect while jumped"] > 0) is (jump in ("+1y", "1970"))


@pytest.mark.parametrize("mode", ["full", "readonly"])
def test_disk(mode: str, tmp_path: Path) -> None:
    if not storage.can_mount():
        pytest.skip("mounting a tmpfs needs root")
    fig = held(storage.disk(tmp_path, mode, scans=5))
    assert fig.notes[f"FAULT lights ({'F' if mode == 'full' else 'R'})"] >= 1


@pytest.mark.parametrize("mode", ["once", pytest.param("forever", marks=pytest.mark.slow)])
def test_io_errors(mode: str, db_url: str, tmp_path: Path) -> None:
    fig = held(storage.io_errors(tmp_path, 25, mode, runs=2, step=40, database_url=db_url))
    assert fig.notes["faults fired"] == "2 of 2"
    assert fig.integrity == "ok"


def test_the_checker_sees_a_lost_and_a_doubled_event(tmp_path: Path) -> None:
    """The invariant can fail: an event deleted in the hub is lost, a copy is doubled."""
    with scenarios.rig(tmp_path) as r:
        r.edge.start()
        scenarios._first_sync(r, 6)
        url = str(r.reader.engine.url)
        with r.reader.engine.begin() as c:
            from sqlalchemy import text

            c.execute(
                text("DELETE FROM event WHERE node_id = :n AND seq = 2"), {"n": r.edge.node_id}
            )
            c.execute(
                text(
                    "UPDATE event SET payload = (SELECT payload FROM event e WHERE e.node_id = :n "
                    "AND e.seq = 3) WHERE node_id = :n AND seq = 4"
                ),
                {"n": r.edge.node_id},
            )
        fig = check(Figures("tampered"), r.edge, HubReader(url), idle_s=3)
    assert not fig.ok
    assert fig.lost >= 2 and fig.doubled == 1


def test_the_relay_cuts_and_heals(tmp_path: Path) -> None:
    import socket

    srv = socket.create_server(("127.0.0.1", 0))
    relay = Relay(srv.getsockname()[1])
    relay.heal()
    with socket.create_connection(("127.0.0.1", relay.port), timeout=2) as c:
        peer, _ = srv.accept()
        c.sendall(b"ping")
        assert peer.recv(4) == b"ping"
        relay.cut()
        assert c.recv(4) == b""  # the relayed connection is gone
        peer.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2)
    relay.heal()
    socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()
    relay.close()
    srv.close()


def test_the_command_exits_non_zero_on_bad_arguments() -> None:
    env = {**os.environ}
    done = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "chaos", "clock", "--jump", "+2y"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--jump must be one of" in done.stderr
