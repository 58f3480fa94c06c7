"""Storage scenarios: a full and a read-only disk, SQLite I/O errors at operation k.

``disk`` puts the node's data directory on a small tmpfs the scenario mounts itself (this
needs root — mount(2) — which the test machines have; elsewhere the command says so and
exits 2: it does not fake a disk). ``io-errors`` wraps the edge store's SQLite connection
in the daemon's own process (:mod:`simulators.chaos.launch`) and runs SQLite's error loop:
fail at operation k, once or forever, kill, ``PRAGMA integrity_check``, next k.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from simulators.chaos.invariants import Figures, check
from simulators.chaos.procs import EdgeDaemon, Feeder, wait
from simulators.chaos.scenarios import Rig, _first_sync, rig


class CannotMount(RuntimeError):
    """No small filesystem of our own here (not root, or no tmpfs)."""


@contextlib.contextmanager
def small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise CannotMount(
            f"cannot mount a {size} tmpfs at {where} (mount(2) needs root): {done.stderr.strip()}"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def _remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True, capture_output=True)


def _fill(disk: Path) -> list[Path]:
    """Write files until the disk says ENOSPC; return them (delete them to free the space)."""
    out = []
    for name, block in (("filler", 65536), ("filler2", 512)):
        path = disk / name
        out.append(path)
        with contextlib.suppress(OSError), open(path, "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * block)
    return out


def _checkpoint(db: Path) -> None:
    """An empty WAL: the node's next write must grow a file (and meets the full disk)."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _signals(edge: EdgeDaemon, name: str) -> int:
    return sum(1 for r in edge.records(since_start=True) if r.get("signal") == name)


def _scans_refused(r: Rig, scans: int, prefix: str, fig: Figures) -> None:
    """Scans while the store cannot be written: no commit, a FAULT light, the daemon alive."""
    last = r.edge.last_seq()
    faults = _signals(r.edge, "fault")
    with Feeder(r.edge.scanner_port, interval=0.05, limit=scans, prefix=prefix) as feeder:
        wait(feeder.done, 30, "the scans sent")
    time.sleep(1.5)
    shown = _signals(r.edge, "fault") - faults
    fig.notes[f"FAULT lights ({prefix})"] = shown
    if r.edge.last_seq() != last:
        fig.fail(f"{r.edge.last_seq() - last} scans committed on a store that cannot be written")
    if shown == 0:
        fig.fail("no FAULT light for scans the store could not take")
    if not r.edge.alive():
        fig.fail("the daemon died on a store that cannot be written")


def disk(workdir: Path, mode: str, database_url: str | None = None, scans: int = 20) -> Figures:
    """``full``: the disk fills under a running node; ``readonly``: the node starts on a
    read-only data directory. Then space/writability comes back and the node converges."""
    fig = Figures(f"disk {mode}")
    t0 = time.monotonic()
    with (
        small_disk(workdir / "disk") as mount,
        rig(workdir, database_url, data_dir=mount / "edge-data") as r,
    ):
        r.edge.start()
        _first_sync(r, 5)
        if mode == "full":
            _checkpoint(r.edge.db)
            fillers = _fill(mount)
            _scans_refused(r, scans, "F", fig)
            for f in fillers:
                f.unlink()
        else:
            r.edge.stop()
            _remount(mount, "ro")
            try:
                r.edge.start()  # degraded, saying why; not exit 1 (a systemd restart loop)
                time.sleep(2)
                degraded = any(
                    "degraded" in str(x.get("msg", "")) for x in r.edge.records(since_start=True)
                )
                fig.notes["started degraded"] = degraded
                if not degraded:
                    fig.fail("the daemon on a read-only store did not say it runs degraded")
                _scans_refused(r, scans, "R", fig)
                r.edge.stop()
            finally:
                _remount(mount, "rw")
            r.edge.start()
        _first_sync(r, scans, "G")
        check(fig, r.edge, r.reader)
        fig.runs = 1
    fig.seconds = time.monotonic() - t0
    return fig


def io_errors(
    workdir: Path,
    at: int,
    mode: str,
    runs: int = 1,
    step: int = 1,
    database_url: str | None = None,
    scans: int = 10,
) -> Figures:
    """For k = at, at+step, …: the daemon's k-th SQLite operation fails (once or forever)
    while scans arrive; then SIGKILL and ``PRAGMA integrity_check``. Finally a clean start
    must converge with everything that was committed."""
    fig = Figures(f"io-errors {mode}")
    t0 = time.monotonic()
    fired = exits = 0
    with rig(workdir, database_url) as r:
        r.edge.start()
        _first_sync(r, 5)
        r.edge.stop()
        mark = workdir / "injected.txt"
        for i in range(runs):
            k = at + i * step
            before = mark.read_text() if mark.exists() else ""
            r.edge.start(
                wait_ready=False,
                faults={
                    "GUANJIA_CHAOS_IO_FAULT": f"{k}:{mode}",
                    "GUANJIA_CHAOS_IO_DB": str(r.edge.db),
                    "GUANJIA_CHAOS_IO_MARK": str(mark),
                },
            )
            wait(lambda: r.edge.accepting() or not r.edge.alive(), 180, "the daemon up or gone")
            if r.edge.alive():
                with Feeder(r.edge.scanner_port, interval=0.02, limit=scans, prefix=f"K{k}-"):
                    deadline = time.monotonic() + 3
                    while time.monotonic() < deadline and r.edge.alive():
                        time.sleep(0.1)
            if not r.edge.alive():
                exits += 1
            r.edge.kill9()
            fired += (mark.read_text() if mark.exists() else "") != before
            fig.runs += 1
            verdict = r.edge.integrity()
            if verdict != "ok":
                fig.integrity = f"k={k}: {verdict}"
                fig.fail(f"integrity_check after an I/O error at operation {k}: {verdict}")
                break
        r.edge.start()
        _first_sync(r, scans, "Z")
        check(fig, r.edge, r.reader)
    fig.notes["faults fired"] = f"{fired} of {fig.runs}"
    fig.notes["daemon exits"] = exits
    if fired == 0:
        fig.fail("no injected I/O error fired: k beyond every operation")
    fig.seconds = time.monotonic() - t0
    return fig


def can_mount() -> bool:
    return os.geteuid() == 0
