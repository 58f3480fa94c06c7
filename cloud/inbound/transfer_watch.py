"""Each hub worker's watch over the rests of short transfers (docs/inbound.md "A rest
nobody picks"): every ``GUANJIA_TRANSFER_WATCH_POLL_S`` it opens a task for each rest asked
of a pick node longer than ``GUANJIA_TRANSFER_REST_WAIT_S`` ago and not shipped
(cloud/inbound/transfer_pick.py ``overdue``, once per ask whichever worker gets there first).
A hub thread as the finance poster is (cloud/periodic.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.inbound import transfer_pick
from cloud.periodic import Periodic

log = logging.getLogger("guanjia.cloud.transfers")


def tick(factory: sessionmaker[Session], now: datetime, wait: timedelta) -> int:
    """One look, in one transaction; how many tasks it opened."""
    with transaction(factory) as session:
        return transfer_pick.overdue(session, now, wait)


class Worker(Periodic):
    name = "transfer-watch"
    failed = "transfers: a watch tick failed; trying again"

    def __init__(self, factory: sessionmaker[Session], poll: timedelta, wait: timedelta) -> None:
        super().__init__(poll, log)
        self.factory, self.wait = factory, wait

    def step(self, now: datetime) -> None:
        opened = tick(self.factory, now, self.wait)
        if opened:
            log.info("transfers: %d rest(s) not shipped in time, task(s) opened", opened)
