"""systemd service notifications: ready, stopping, and the watchdog keep-alive.

The protocol is one datagram of ``KEY=VALUE`` lines to the unix socket named by
``$NOTIFY_SOCKET`` (sd_notify(3); a leading ``@`` names an abstract socket).
With ``WatchdogSec=`` in the unit, systemd sets ``$WATCHDOG_USEC`` (and
``$WATCHDOG_PID``) and restarts the service when no ``WATCHDOG=1`` arrives within
that time (systemd.service(5), "WatchdogSec="). Outside systemd nothing is set
and every call here does nothing.

What a ping proves: the node's event loop ran the watchdog task and the store
answered a read. A loop stuck in a blocking call or a store that cannot be read
stops the pings, and systemd restarts the daemon, which is always safe (the store
commits before every light). An unreachable broker does not: offline is a normal
state of an edge node, not a fault.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger("guanjia.edge.systemd")


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as err:
        log.warning("systemd notify socket %s: %s", os.environ["NOTIFY_SOCKET"], err)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Seconds between keep-alives (half the unit's WatchdogSec), or None without one."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None  # no watchdog, or it is meant for another process of the unit
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number: no watchdog keep-alive", usec)
        return None
    return value / 2_000_000 if value > 0 else None


async def keep_alive(healthy: Callable[[], bool], interval_s: float) -> None:
    """Ping the watchdog every ``interval_s`` while ``healthy()`` holds; log when it stops."""
    failing = False
    while True:
        try:
            ok, why = healthy(), "the check said no"
        except Exception as err:  # any failure of the check is a reason to stop pinging
            ok, why = False, str(err)
        if ok:
            notify("WATCHDOG=1")
            if failing:
                log.info("watchdog check passes again")
        elif not failing:
            log.error("watchdog check failed (%s): no keep-alive, systemd will restart", why)
        failing = not ok
        await asyncio.sleep(interval_s)
