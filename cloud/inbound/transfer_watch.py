"""Each hub worker's watch over the rests of short transfers (docs/inbound.md "A rest
nobody picks"): every ``GUANJIA_TRANSFER_WATCH_POLL_S`` it opens a task for each rest asked
of a pick node longer than ``GUANJIA_TRANSFER_REST_WAIT_S`` ago and not shipped
(cloud/inbound/transfer_pick.py ``overdue``, once per ask whichever worker gets there first).
A thread like the finance poster's (cloud/finance/poster.py ``Worker``)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.inbound import transfer_pick

log = logging.getLogger("guanjia.cloud.transfers")


def tick(factory: sessionmaker[Session], now: datetime, wait: timedelta) -> int:
    """One look, in one transaction; how many tasks it opened."""
    with transaction(factory) as session:
        return transfer_pick.overdue(session, now, wait)


class Worker:
    def __init__(self, factory: sessionmaker[Session], poll: timedelta, wait: timedelta) -> None:
        self.factory, self.poll, self.wait = factory, poll, wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="transfer-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: timedelta = timedelta(seconds=30)) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout.total_seconds())

    def _loop(self) -> None:
        while not self._stop.wait(self.poll.total_seconds()):
            try:
                opened = tick(self.factory, datetime.now(UTC), self.wait)
                if opened:
                    log.info("transfers: %d rest(s) not shipped in time, task(s) opened", opened)
            except Exception:
                log.exception("transfers: a watch tick failed; trying again")
