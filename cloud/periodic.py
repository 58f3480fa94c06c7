"""A hub thread that does one step every ``poll`` until stopped: the finance poster, the
e-invoice worker, the WeChat Pay bill jobs and the transfer watch each are one. A step that
fails is logged and tried again at the next poll; the work it does is in the database
(cursors, leases, claimed rows), so a step lost to a crash or a stop is done by the next one,
in this process or another hub's (docs/deploy/hub.md)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta


class Periodic:
    """Subclasses say what one ``step`` is; ``start`` and ``stop`` are the hub's (cloud/app.py)."""

    #: The thread's name, and what the log says when a step fails.
    name = "periodic"
    failed = "a periodic step failed; trying again"

    def __init__(self, poll: timedelta, log: logging.Logger) -> None:
        # timedelta, not seconds as a float: cloud/finance holds no float at all (test_money).
        self.poll, self.log = poll, log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, now: datetime) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: timedelta = timedelta(seconds=30)) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout.total_seconds())

    def _loop(self) -> None:
        while not self._stop.wait(self.poll.total_seconds()):
            try:
                self.step(datetime.now(UTC))
            except Exception:
                self.log.exception(self.failed)
