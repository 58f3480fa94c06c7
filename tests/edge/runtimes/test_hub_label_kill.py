"""kill -9 of the receiving daemon while it owes a label the hub asked for (issue 17;
docs/inbound.md "The new serial's label", edge/runtimes/serial_labels.py).

The station runs in a process of its own (the receiving runtime on its store, as the daemon
runs it), printing on the label printer simulator of this process, whose record of jobs is
the proof. It is killed with SIGKILL at three moments and started again:

* after the downlink's commit kept the request, before the print: the restart prints it,
  once (``pending`` → printed);
* after the job reached the printer, before the printer's answer (the simulator stops
  answering ``~HS`` once it printed: fault injection): the row is ``sent``, so the restart
  prints nothing and reports it printed ``unconfirmed``;
* after the print and its fact committed, before the hub acked the fact: the restart prints
  nothing and the fact stays in the outbox once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.store import serial_labels
from simulators.devices.printer import LabelPrinterSimulator

from .test_hub_serial_labels import ASK, printed_facts

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]

#: The station: ``argv``: data dir, printer port, mode. ``ask``: the request comes down
#: (committed, then "committed" on stdout) and the runtime is told only when a line comes
#: on stdin; ``run``: a restart, the runtime started on the store as it is.
STATION = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from edge.runtimes.receive import ReceiveRuntime
    from edge.store.store import Store
    from protocol.messages import SerialLabelAsked
    from tests.edge.runtimes.harness import NODE, Recorder, push, seed
    from tests.edge.runtimes.receiving import changes, receive_config
    from tests.edge.runtimes.test_hub_serial_labels import ASK

    data, port, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

    async def main() -> None:
        cfg = receive_config(data, port, labels="off")
        store = Store(data / "edge.db", NODE)
        store.start_epoch("test", "inbound")
        if store.down_applied == 0:
            seed(store)
            push(store, changes())
        rt = ReceiveRuntime(store, Recorder(data / "edge.db"), cfg)
        await rt.start()
        if mode == "ask":
            # The start's own drain (it found nothing) ends first: told of the request
            # only by the line on stdin, the station has it committed and not printed.
            if rt.hub_labels._task is not None:
                await rt.hub_labels._task
            batch = push(store, [SerialLabelAsked(seq=1, payload=ASK)])
            print("committed", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            rt.hub_labels.on_down_applied(batch)
        print("running", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


class Printer:
    """The label printer simulator on a loop of its own thread (the daemon is another
    process)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = LabelPrinterSimulator()
        self.call(self.sim.start())

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def printer() -> Iterator[Printer]:
    p = Printer()
    yield p
    p.close()


def _start(data: Path, printer: Printer, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STATION, str(data), str(printer.sim.port), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    assert proc.stdout is not None
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def _until(what: str, ok: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)


def _state(data: Path) -> str | None:
    conn = sqlite3.connect(data / "edge.db")
    try:
        return serial_labels.state_of(conn, ASK.request)
    finally:
        conn.close()


def _asked(data: Path, printer: Printer) -> subprocess.Popen[str]:
    """The daemon with the request committed by its downlink, not yet told to print."""
    proc = _start(data, printer, "ask")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "committed"
    assert _state(data) == "pending" and printer.sim.printed == []
    return proc


def _restarted(data: Path, printer: Printer, settled: Callable[[], bool]) -> None:
    """Start the daemon again on its store, wait for ``settled`` and a moment more (a second
    print would come then), and kill it again."""
    proc = _start(data, printer, "run")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
    _until("the restarted station", settled)
    time.sleep(0.5)
    _kill(proc)


def test_killed_between_the_downlink_commit_and_the_print_it_prints_once_after(
    tmp_path: Path, printer: Printer
) -> None:
    data = tmp_path / "edge"
    proc = _asked(data, printer)
    _kill(proc)
    assert _state(data) == "pending" and printer.sim.printed == []
    _restarted(data, printer, lambda: len(printed_facts(data / "edge.db")) == 1)
    (label,) = printer.sim.printed
    assert label.layout.barcodes() == ["PHONE-1", "HUB-S0000042"]
    (fact,) = printed_facts(data / "edge.db")
    assert fact["unconfirmed"] is False and _state(data) == "printed"
    # And once more: printed already, nothing more.
    _restarted(data, printer, lambda: True)
    assert len(printer.sim.printed) == 1 and len(printed_facts(data / "edge.db")) == 1


def test_killed_after_the_job_left_before_the_answer_it_never_prints_again(
    tmp_path: Path, printer: Printer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = printer.sim
    printed = sim._print

    def then_silent(*args: Any) -> None:  # fault injection: the answer never comes
        printed(*args)
        sim.hs_silent = True

    monkeypatch.setattr(sim, "_print", then_silent)
    data = tmp_path / "edge"
    proc = _asked(data, printer)
    assert proc.stdin is not None
    proc.stdin.write("print\n")
    proc.stdin.flush()
    _until("the job at the printer", lambda: len(sim.printed) == 1)
    _kill(proc)  # the driver still waits (2 s) for the printer's answer
    assert _state(data) == "sent" and printed_facts(data / "edge.db") == []
    sim.hs_silent = False
    _restarted(data, printer, lambda: len(printed_facts(data / "edge.db")) == 1)
    assert len(sim.printed) == 1  # the restart printed nothing
    (fact,) = printed_facts(data / "edge.db")
    assert fact["unconfirmed"] is True and fact["request"] == ASK.request
    assert _state(data) == "printed"


def test_killed_after_the_print_before_the_ack_it_prints_nothing_more(
    tmp_path: Path, printer: Printer
) -> None:
    data = tmp_path / "edge"
    proc = _asked(data, printer)
    assert proc.stdin is not None
    proc.stdin.write("print\n")
    proc.stdin.flush()
    _until("the printed fact", lambda: len(printed_facts(data / "edge.db")) == 1)
    _kill(proc)  # no hub: the fact was never sent, let alone acked
    assert len(printer.sim.printed) == 1 and _state(data) == "printed"
    _restarted(data, printer, lambda: True)
    assert len(printer.sim.printed) == 1
    (fact,) = printed_facts(data / "edge.db")
    assert fact["unconfirmed"] is False
