"""The invariant every scenario ends with, checked with plain SQL on both sides.

Every event the node committed is in the hub exactly once with the content the node
committed; every verdict light the operator saw is backed by a commit; no queue is wedged
(the node settles, the hub acks all of it, the watchdog's alarm is cleared); the node's
database passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from simulators.chaos.procs import EdgeDaemon


@dataclass
class Figures:
    """What one scenario measured; ``ok`` is the invariant."""

    scenario: str
    runs: int = 0
    events: int = 0
    lost: int = 0
    doubled: int = 0
    extra: int = 0  # events in the hub the node never committed
    unbacked_lights: int = 0
    converge_s: float = 0.0
    wedged: int = 0
    integrity: str = "ok"
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.broken
            and (
                self.lost,
                self.doubled,
                self.extra,
                self.unbacked_lights,
                self.wedged,
            )
            == (0, 0, 0, 0, 0)
            and self.integrity == "ok"
        )

    def fail(self, why: str) -> None:
        self.broken.append(why)

    def lines(self) -> list[str]:
        out = [
            f"scenario          {self.scenario}",
            f"runs              {self.runs}",
            f"events            {self.events}",
            f"lost              {self.lost}",
            f"doubled           {self.doubled}",
            f"extra in hub      {self.extra}",
            f"unbacked lights   {self.unbacked_lights}",
            f"time to converge  {self.converge_s:.1f} s",
            f"wedged queues     {self.wedged}",
            f"integrity         {self.integrity}",
            f"wall time         {self.seconds:.1f} s",
        ]
        out += [f"{k:<17} {v}" for k, v in self.notes.items()]
        out += [f"BROKEN            {b}" for b in self.broken]
        out.append("invariant         " + ("held" if self.ok else "BROKEN"))
        return out


class HubReader:
    """The hub's database, read with plain SQL (this package does not import ``cloud``)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def acked(self, node: str) -> int:
        with self.engine.connect() as c:
            row = c.execute(
                text("SELECT acked_through FROM node WHERE node_id = :n"), {"n": node}
            ).first()
        return 0 if row is None else int(row[0])

    def events(self, node: str) -> tuple[set[int], dict[int, str], int]:
        """(the seqs stored, seq -> barcode of scans, events flagged clock-suspect)."""
        with self.engine.connect() as c:
            seqs = {
                int(s)
                for (s,) in c.execute(text("SELECT seq FROM event WHERE node_id = :n"), {"n": node})
            }
            suspect = c.execute(
                text("SELECT count(*) FROM event WHERE node_id = :n AND clock_suspect"),
                {"n": node},
            ).scalar_one()
            scans = {}
            for seq, payload in c.execute(
                text(
                    "SELECT seq, payload FROM event WHERE node_id = :n AND type = 'scan.recorded'"
                ),
                {"n": node},
            ):
                body = payload if isinstance(payload, dict) else orjson.loads(payload)
                scans[int(seq)] = str(body["barcode"])
        return seqs, scans, int(suspect or 0)


def _verdict_light(record: dict[str, object]) -> bool:
    """A light that judged a scan (OK, ERROR, or UNKNOWN for a barcode not in the
    catalogue — not the UNKNOWN of an unreadable line, which commits nothing)."""
    signal = record.get("signal")
    return signal in ("ok", "error") or (
        signal == "unknown" and "unknown barcode" in str(record.get("msg", ""))
    )


def settle(edge: EdgeDaemon, hub: HubReader, idle_s: float, cap_s: float = 3600) -> float:
    """Wait until the node's sequence stands still and the hub acked all of it; the seconds.

    Scans still in the node's socket buffer are committed after the feeder stops (on a
    loaded machine, thousands, for minutes), so "settled" is two reads 0.3 s apart with
    the same last seq, all of it acked. Wedged is *no progress*: neither the node's seq
    nor the hub's ack moved for ``idle_s`` (or ``cap_s`` passed in all).
    """
    t0 = moved = time.monotonic()
    seen = (-1, -1)
    while True:
        now = (edge.last_seq(), hub.acked(edge.node_id))
        if now == seen and now[0] == now[1]:
            return time.monotonic() - t0
        if now != seen:
            moved = time.monotonic()
        seen = now
        if time.monotonic() - moved > idle_s or time.monotonic() - t0 > cap_s:
            raise TimeoutError(
                f"wedged: no progress for {time.monotonic() - moved:.0f} s: node at seq "
                f"{now[0]}, hub acked {now[1]}"
            )
        time.sleep(0.3)


def check(
    fig: Figures, edge: EdgeDaemon, hub: HubReader, idle_s: float = 60, alarm_grace: float = 10
) -> Figures:
    """Settle and check the invariant; fill ``fig`` (and return it)."""
    try:
        fig.converge_s = settle(edge, hub, idle_s)
    except TimeoutError as err:
        fig.wedged += 1
        fig.fail(str(err))
    node_scans = edge.scans()
    last = edge.last_seq()
    seqs, cloud_scans, suspect = hub.events(edge.node_id)
    fig.events = last
    fig.notes["clock-suspect"] = suspect
    # Lost: a committed seq missing in the hub, or a scan there with other content.
    fig.lost = len(set(range(1, last + 1)) - seqs) + sum(
        1 for s, b in node_scans.items() if s in seqs and cloud_scans.get(s) != b
    )
    fig.extra = len({s for s in seqs if s > last or s < 1})
    # Doubled: one scanned barcode (the feeder never repeats one) stored under two seqs.
    fig.doubled = sum(n - 1 for n in Counter(cloud_scans.values()).values() if n > 1)
    with contextlib.suppress(Exception):
        fig.integrity = edge.integrity()
    # Every verdict light shown is backed by a commit the hub holds.
    records = edge.records()
    committed = {int(str(r["seq"])): r["barcode"] for r in records if "seq" in r and "barcode" in r}
    lights = sum(1 for r in records if _verdict_light(r))
    fig.unbacked_lights = max(0, lights - len(committed)) + sum(
        1 for s, b in committed.items() if cloud_scans.get(s) != b
    )
    # Liveness: the watchdog's alarm (if one was raised) clears once the backlog is gone.
    if edge.alive():
        deadline = time.monotonic() + alarm_grace
        while edge.alarm() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if (still := edge.alarm()) is not None:
            fig.wedged += 1
            fig.fail(f"the watchdog's alarm did not clear after convergence: {still}")
    return fig


def suspect_after(hub: HubReader, node: str, seq: int) -> int:
    """Events after ``seq`` the hub flagged clock-suspect."""
    with hub.engine.connect() as c:
        row = c.execute(
            text("SELECT count(*) FROM event WHERE node_id = :n AND seq > :s AND clock_suspect"),
            {"n": node, "s": seq},
        ).one()
    return int(row[0])
