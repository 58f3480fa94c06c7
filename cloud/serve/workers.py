"""Worker processes of ``guanjia cloud serve --workers N``, each with a listening socket of its own.

uvicorn's own ``--workers`` shares one listening socket: whichever worker is awake takes the
next connection. Connections that live long (a reverse proxy's keep-alive pool, PDAs,
``guanjia bench cloud``'s 64) then pile on some workers: 36, 21 and 7 of 64 on three workers,
so one queued requests while another idled. Here every worker binds its own socket to the
same port with ``SO_REUSEPORT`` (Linux ≥ 3.9, the BSDs), and the kernel spreads new
connections over the sockets by a hash of the addresses.

The supervisor (this process) holds no listening socket: with ``SO_REUSEPORT`` the kernel would
hand it connections too, and it never accepts. It starts the workers, replaces one that dies,
and on SIGTERM or SIGINT stops them all (uvicorn's graceful shutdown in each). A worker that
dies within ``STARTUP_S`` of starting is taken for a start that cannot succeed (a database that
refuses, a port held by someone else): the supervisor then stops the rest and exits with an
error rather than restart it for ever.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Final

from prometheus_client import multiprocess

log = logging.getLogger("guanjia.cloud")

#: A worker that exits sooner than this after its start failed to start.
STARTUP_S: Final = 15.0
#: How long stopping workers get to finish their requests before they are killed.
STOP_S: Final = 20.0


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT``; listening unless ``listen`` is
    False (bound only, it takes no connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def worker_environment(index: int) -> dict[str, str]:
    """What worker ``index`` (0, 1, …) changes in the environment ``serve`` prepared.

    Loops that need one process, not one per worker, run in the first: the channels' stock
    push loop looks for dirty rows four times a second, a transaction each time; in every
    worker of three it was 2 % of a core with no request at all (issue 20,
    docs/benchmarks.md). A first worker that dies is started again as the first. Leases keep
    any number correct, so this only saves work; a loop switched off for the hub stays off.
    """
    return {"GUANJIA_STOCK_PUSH_LOOP": "false"} if index else {}


def _worker(host: str, port: int, index: int = 0) -> None:
    """One worker: its own socket, the app from the environment ``serve`` prepared."""
    import uvicorn

    os.environ.update(worker_environment(index))
    from cloud.serve.protocol import uvicorn_options
    from cloud.settings import Settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sock = listening_socket(host, port)
    config = uvicorn.Config(
        "cloud.app:app_from_environment",
        factory=True,
        log_level="warning",
        lifespan="on",
        **uvicorn_options(Settings()),
    )
    uvicorn.Server(config).run(sockets=[sock])


def supervise(workers: int, host: str, port: int) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT; returns the exit status."""
    # Fail at once, here, if the port is held by a socket we cannot share: bound (not
    # listening) this socket takes no connections, and it is closed before any worker binds.
    try:
        listening_socket(host, port, listen=False).close()
    except OSError as err:
        sys.exit(f"cannot listen on {host}:{port}: {err.strerror}")
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def start(i: int) -> tuple[BaseProcess, float]:
        p = ctx.Process(target=_worker, args=(host, port, i), name=f"guanjia-worker-{i}")
        p.start()
        return p, time.monotonic()

    procs = [start(i) for i in range(workers)]
    status = 0
    try:
        while not stopping:
            wait([p.sentinel for p, _ in procs], timeout=0.5)
            for i, (p, started) in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                if time.monotonic() - started < STARTUP_S:
                    log.error(
                        "worker %s exited (%s) while starting; stopping the hub", p.name, p.exitcode
                    )
                    status = 1
                    stopping = True
                    break
                log.warning("worker %s exited (%s); starting another", p.name, p.exitcode)
                _forget_metrics(p)
                procs[i] = start(i)
    finally:
        for p, _ in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_S
        for p, _ in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
    return status


def _forget_metrics(p: BaseProcess) -> None:
    """Drop a dead worker's live gauges (its pool) from the summed metrics (cloud/metrics.py)."""
    if p.pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(p.pid)  # type: ignore[no-untyped-call]  # unannotated upstream
