"""Who used the two cores during a bench phase: the hub (this process), the simulator (its own
process), our PostgreSQL backends, and the whole machine (everyone's), read from Linux
``/proc`` (zeros elsewhere). On a shared machine wall-time rates move from run to run; these
say what share each part took, so a change can be judged by the CPU it saves.

``py-spy`` (optional, not a dependency: ``pip install py-spy``) can sample the hub and the
simulator over the same phase, as collapsed stacks (``--format raw``, one line a stack).
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

from cloud.bench.api import _cpu_s, tree_cpu_s


def _pid_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of one process, without its children; 0 once it is gone."""
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 (one read)
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / hz


@dataclass
class Share:
    """Snapshots at the phase's start (``start``) and end (``stop``)."""

    sim_pid: int
    backends: set[int] = field(default_factory=set)
    _at: dict[str, float] = field(default_factory=dict)
    _backend0: dict[int, float] = field(default_factory=dict)
    _spies: list[subprocess.Popen[bytes]] = field(default_factory=list)
    out: dict[str, Any] = field(default_factory=dict)
    #: Seconds the hub's collector ran during the phase (every thread waits for it).
    _gc: list[float] = field(default_factory=lambda: [0.0, 0.0])
    _gc_by: list[list[float]] = field(default_factory=lambda: [[0, 0.0], [0, 0.0], [0, 0.0]])

    def _collector(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc[1] = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc[1]
            self._gc[0] += took
            by = self._gc_by[int(_info.get("generation", 0))]
            by[0] += 1
            by[1] += took

    def watch(self, engine: Engine) -> None:
        """Note the server process of each connection the engine opens (PostgreSQL)."""
        if engine.dialect.name != "postgresql":
            return

        @event.listens_for(engine, "connect")
        def _backend(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT pg_backend_pid()")
            self.backends.add(int(cur.fetchone()[0]))
            cur.close()
            dbapi_conn.rollback()  # leave the connection as the pool gave it

    def start(self, py_spy: str | None = None) -> None:
        if py_spy:
            spy = shutil.which("py-spy")
            if spy is None:
                raise RuntimeError("--py-spy needs py-spy on the PATH (pip install py-spy)")
            for who, pid in (("hub", os.getpid()), ("simulator", self.sim_pid)):
                cmd = [spy, "record", "-p", str(pid), "-r", "100", "--format", "raw"]
                cmd += ["-o", f"{py_spy}.{who}.txt"]
                self._spies.append(
                    subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
            time.sleep(1.0)  # py-spy attaches before the phase begins
        self._at = {
            "wall": time.monotonic(),
            "hub": time.process_time(),
            "sim": tree_cpu_s(self.sim_pid),
            "machine": _cpu_s()[0],
        }
        self._backend0 = {pid: _pid_cpu_s(pid) for pid in self.backends}
        gc.callbacks.append(self._collector)

    def stop(self) -> dict[str, Any]:
        if self._collector in gc.callbacks:
            gc.callbacks.remove(self._collector)
        wall = time.monotonic() - self._at["wall"]
        hub = time.process_time() - self._at["hub"]
        sim = tree_cpu_s(self.sim_pid) - self._at["sim"]
        # A backend opened during the phase counts from its start.
        pg = sum(_pid_cpu_s(p) - self._backend0.get(p, 0.0) for p in self.backends)
        machine = _cpu_s()[0] - self._at["machine"]
        for spy in self._spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for spy in self._spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
        self.out = {
            "phase_s": round(wall, 1),
            "cpu_hub_s": round(hub, 1),
            "hub_gc_s": round(self._gc[0], 2),
            # [passes, seconds] of each generation: the full passes (the last) walk everything
            "hub_gc_by_generation": [[int(n), round(t, 2)] for n, t in self._gc_by],
            "cpu_simulator_s": round(sim, 1),
            "cpu_postgresql_s": round(pg, 1),
            "cpu_machine_s": round(machine, 1),
        }
        return self.out
