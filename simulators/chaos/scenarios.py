"""The scenarios: kill the edge or the hub, restart the broker, partition, clock jumps.

Each builds a rig (a private broker, the hub as ``python -m cloud serve``, one edge daemon
as ``python -m edge run`` fed by a scanner), does its damage while scans flow, and ends with
:func:`simulators.chaos.invariants.check`. The disk and SQLite I/O scenarios are in
:mod:`simulators.chaos.storage`.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simulators.broker import PrivateBroker
from simulators.chaos.invariants import Figures, HubReader, check, suspect_after
from simulators.chaos.procs import EdgeDaemon, Feeder, Hub, Relay, wait


@dataclass
class Rig:
    broker: PrivateBroker
    hub: Hub
    edge: EdgeDaemon
    reader: HubReader
    relay: Relay | None


@contextlib.contextmanager
def rig(
    workdir: Path,
    database_url: str | None = None,
    *,
    relay: bool = False,
    link_alarm_s: float = 60.0,
    data_dir: Path | None = None,
) -> Iterator[Rig]:
    """Broker, hub and a (not yet started) edge daemon with a node id of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(workdir / "broker").start()
    url = database_url or f"sqlite:///{workdir / 'hub.db'}"
    hub = Hub(workdir / "hub", url, broker.port)
    cut = Relay(broker.port) if relay else None
    edge: EdgeDaemon | None = None
    reader = HubReader(url)
    try:
        hub.start()
        if cut is not None:
            cut.heal()
        edge = EdgeDaemon(
            workdir / "edge",
            cut.port if cut else broker.port,
            node_id=f"chaos-{uuid.uuid4().hex[:8]}",
            link_alarm_s=link_alarm_s,
            data_dir=data_dir,
        )
        yield Rig(broker, hub, edge, reader, cut)
    finally:
        if edge is not None:
            edge.stop()
        if cut is not None:
            cut.close()
        hub.stop()
        broker.stop()
        reader.close()


def _first_sync(r: Rig, scans: int = 5, prefix: str = "A") -> None:
    """``scans`` more scans committed and acked by the hub."""
    target = r.edge.last_seq() + scans
    with Feeder(r.edge.scanner_port, limit=scans, prefix=prefix):
        wait(lambda: r.edge.last_seq() >= target, 120, f"{scans} scans committed")
    wait(lambda: r.reader.acked(r.edge.node_id) >= target, 180, "the hub's ack")


def kill_edge(
    workdir: Path,
    kills: int,
    database_url: str | None = None,
    seed: int = 1,
    budget_s: float | None = None,
) -> Figures:
    """kill -9 of the edge daemon at a random moment (20–300 ms after its start), mid-burst.

    ``budget_s``: stop killing after that long (a loaded machine starts a daemon slowly);
    the figures say how many kills were done.
    """
    fig = Figures("kill-edge")
    rng = random.Random(seed)
    t0 = time.monotonic()
    with rig(workdir, database_url) as r:
        with Feeder(r.edge.scanner_port, committed=r.edge.last_seq) as feeder:
            for _ in range(kills):
                if budget_s is not None and time.monotonic() - t0 > budget_s:
                    fig.notes["stopped"] = f"time budget {budget_s:.0f} s spent"
                    break
                r.edge.start()
                time.sleep(rng.uniform(0.02, 0.3))
                r.edge.kill9()
                fig.runs += 1
            r.edge.start()
            time.sleep(0.3)
        time.sleep(0.2)
        check(fig, r.edge, r.reader)
        fig.notes["scans sent"] = len(feeder.sent)
        fig.notes["starts"] = r.edge.starts
    if fig.events <= fig.runs:
        fig.fail(f"only {fig.events} events over {fig.runs} kills: scans did not really flow")
    fig.seconds = time.monotonic() - t0
    return fig


def kill_hub(
    workdir: Path,
    kills: int,
    database_url: str | None = None,
    seed: int = 7,
    budget_s: float | None = None,
) -> Figures:
    """kill -9 of the hub (API and ingest) mid-batch, restarted at once, while scans flow."""
    fig = Figures("kill-hub")
    rng = random.Random(seed)
    t0 = time.monotonic()
    with rig(workdir, database_url) as r:
        r.edge.start()
        with Feeder(r.edge.scanner_port, committed=r.edge.last_seq) as feeder:
            for _ in range(kills):
                if budget_s is not None and time.monotonic() - t0 > budget_s:
                    fig.notes["stopped"] = f"time budget {budget_s:.0f} s spent"
                    break
                time.sleep(rng.uniform(0.2, 0.6))
                r.hub.kill9()
                r.hub.start()
                fig.runs += 1
        check(fig, r.edge, r.reader)
        fig.notes["scans sent"] = len(feeder.sent)
    fig.seconds = time.monotonic() - t0
    return fig


def broker_restarts(
    workdir: Path, count: int, database_url: str | None = None, seed: int = 3
) -> Figures:
    """The broker killed (SIGKILL, no will flush) and restarted on its port, mid-sync."""
    fig = Figures("broker-restarts")
    rng = random.Random(seed)
    t0 = time.monotonic()
    with rig(workdir, database_url) as r:
        r.edge.start()
        with Feeder(r.edge.scanner_port, committed=r.edge.last_seq) as feeder:
            for _ in range(count):
                time.sleep(rng.uniform(0.2, 0.6))
                r.broker.kill()
                time.sleep(rng.uniform(0.05, 0.3))
                r.broker.start()
                fig.runs += 1
        check(fig, r.edge, r.reader)
        fig.notes["scans sent"] = len(feeder.sent)
    fig.seconds = time.monotonic() - t0
    return fig


def partition(
    workdir: Path,
    seconds: float,
    events: int,
    database_url: str | None = None,
    alarm_bound: float | None = None,
) -> Figures:
    """The node cut from the broker for ``seconds`` while ``events`` scans queue; then healed.

    The watchdog must alarm within its bound (``link_alarm_s``, or sooner for a backlog that
    does not move) and clear once the queue drains after healing.
    """
    bound = alarm_bound if alarm_bound is not None else min(60.0, max(2.0, seconds / 3))
    fig = Figures("partition")
    t0 = time.monotonic()
    with rig(workdir, database_url, relay=True, link_alarm_s=bound) as r:
        assert r.relay is not None
        r.edge.start()
        _first_sync(r)
        before = r.edge.last_seq()
        r.relay.cut()
        cut_at = time.monotonic()
        alarm_after: float | None = None
        interval = max(0.0005, 0.7 * seconds / max(events, 1))
        with Feeder(r.edge.scanner_port, interval=interval, limit=events) as feeder:
            while time.monotonic() - cut_at < seconds or not (
                feeder.done() and r.edge.last_seq() >= before + events
            ):
                if alarm_after is None and r.edge.alarm() is not None:
                    alarm_after = time.monotonic() - cut_at
                if time.monotonic() - cut_at > seconds + 600:
                    fig.fail("the node did not commit the scans in 10 minutes past the cut")
                    break
                time.sleep(0.2)
        queued = r.edge.last_seq() - r.reader.acked(r.edge.node_id)
        fig.notes["queued at heal"] = queued
        if queued < events:
            fig.fail(f"only {queued} events queued at the heal: the cut did not hold")
        if alarm_after is None:
            fig.wedged += 1
            fig.fail(f"no watchdog alarm during a {seconds:.0f} s partition (bound {bound:.0f} s)")
        elif alarm_after > bound + 5:
            fig.fail(f"the alarm came {alarm_after:.1f} s after the cut, bound {bound:.0f} s")
        fig.notes["alarm after"] = f"{alarm_after or float('nan'):.1f} s (bound {bound:.0f} s)"
        r.relay.heal()
        check(fig, r.edge, r.reader)
        # The node's clock is right throughout: an event flagged is one judged by its age
        # (late behind the cut), not by the batch's send time (issue 19; docs/sync.md).
        if fig.notes["clock-suspect"]:
            fig.fail(f"{fig.notes['clock-suspect']} events of a right clock flagged clock-suspect")
        fig.runs = 1
    fig.seconds = time.monotonic() - t0
    return fig


JUMPS = {
    "-288s": lambda: -288.0,
    "+288s": lambda: 288.0,
    # A boot with no RTC: the wall clock reads a few hours after the epoch.
    "1970": lambda: -time.time() + 3 * 3600,
    "+1y": lambda: 365 * 86400.0,
}


def clock(workdir: Path, jump: str, database_url: str | None = None, scans: int = 30) -> Figures:
    """The node runs a while on a wrong wall clock, then on the right one again.

    Three phases of ``scans`` each (right, jumped, right), each through a restart; after
    the jump is corrected the hub must flag none of the node's events clock-suspect (the
    HLC's bounded drift, docs/sync.md).
    """
    offset = JUMPS[jump]()
    fig = Figures(f"clock {jump}")
    t0 = time.monotonic()
    with rig(workdir, database_url) as r:
        r.edge.start()
        _first_sync(r, scans, "A")
        r.edge.stop()
        r.edge.start(faults={"GUANJIA_CHAOS_CLOCK_OFFSET_S": repr(offset)})
        _first_sync(r, scans, "J")
        r.edge.stop()
        r.edge.start()
        corrected = r.edge.last_seq()
        with Feeder(r.edge.scanner_port, limit=scans, prefix="C"):
            wait(lambda: r.edge.last_seq() >= corrected + scans, 30, "scans after the correction")
        check(fig, r.edge, r.reader)
        fig.runs = 1
        fig.notes["suspect while jumped"] = fig.notes["clock-suspect"]
        late = suspect_after(r.reader, r.edge.node_id, corrected)
        fig.notes["suspect after fix"] = late
        if late:
            fig.fail(f"{late} events after the clock was corrected flagged clock-suspect")
    fig.seconds = time.monotonic() - t0
    return fig
