"""Whose CPU a request of ``guanjia bench cloud`` costs: the hub's, its database's, the load's.

Issue 20 asks for the CPU per request of the mix halved from ~6 ms (3.6 ms in the hub, 2.2 ms
in PostgreSQL when it was filed), so the bench prints the hub's processes and the PostgreSQL
backends serving *its* connections, side by side with the limit (3.0 ms), and the load
generator's own CPU apart. The machine's busy cores are everyone's on a shared machine; these
are read per process from Linux's /proc.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

from sqlalchemy import make_url, text

from cloud.db.engine import make_engine

#: Issue 20's goal: half of the ~6 ms of CPU a request of the mix cost when it was filed.
CPU_LIMIT_MS_PER_REQUEST = 3.0


def proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of one process so far, or None if it is gone (or this is
    not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces): utime and stime are the 14th
    # and 15th of the line.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tagged(database_url: str, application_name: str) -> str:
    """The URL with an ``application_name`` its PostgreSQL backends can be found by."""
    url = make_url(database_url).update_query_dict({"application_name": application_name})
    return url.render_as_string(hide_password=False)


class BackendCpu:
    """CPU spent by the PostgreSQL backends whose ``application_name`` is ``name`` while the
    block runs (the hub's connections, tagged by ``tagged``).

    A backend's CPU is readable only while it lives, so the set is polled every
    ``interval_s``: a backend's last reading counts, less what it had spent before the block
    (a backend that ends between two polls loses at most ``interval_s`` of its CPU; the
    hub's pool keeps its connections, so few end). ``cpu_s`` is None when the backends'
    processes cannot be read here (PostgreSQL on another host).
    """

    def __init__(self, database_url: str, name: str, interval_s: float = 0.2) -> None:
        self._engine = make_engine(database_url)
        self._name = name
        self._interval = interval_s
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-cpu", daemon=True)
        self._unreadable = False

    def _poll(self, *, baseline: bool) -> None:
        with self._engine.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                {"n": self._name},
            ).scalars()
            for pid in pids:
                cpu = proc_cpu_s(int(pid))
                if cpu is None:
                    self._unreadable = True
                    continue
                # A backend first seen after the start began within the block: all of its
                # CPU is the block's.
                self._first.setdefault(pid, cpu if baseline else 0.0)
                self._last[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll(baseline=False)

    def __enter__(self) -> BackendCpu:
        self._poll(baseline=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._poll(baseline=False)
        self._engine.dispose()

    @property
    def backends(self) -> int:
        return len(self._last)

    @property
    def cpu_s(self) -> float | None:
        if self._unreadable and not self._last:
            return None
        return sum(self._last[p] - self._first[p] for p in self._last)
