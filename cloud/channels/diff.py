"""The daily diff of order ids (issue 16: "an hourly re-scan of the last day and a daily diff of
order ids").

The download and the re-scan read the *increment* list (by ``modified``, from the search
index). Whatever that list never shows — an index that lost a trade, a type the list does not
return — they cannot find. So once a day per shop the *full* list of the last ``days`` days,
by ``created`` (Taobao: ``taobao.trades.sold.get``, which goes back three months), is compared
with ``channel_order``; every id missing here (or listed newer than stored) is read whole and
stored through the same intake (cloud/channels/intake.py: unique key, ``modified`` guard,
paid trades become orders). The run records how many were *found*: trades the increment path
should have brought and did not. That must be 0; when it is not, the run says so (an alarm on
the shop's runs and in the log), because something upstream loses orders.

Scheduled like the re-scan: a ``channel_diff`` row per shop with ``next_diff_at``, claimed
together with the shop's lease (one conditional UPDATE of each in one transaction), the first
one a period after the shop's first scheduled run. The watermark does not move.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import shops
from cloud.channels.download import DEFAULT_TUNING, STREAM, RunResult, Tuning, _seconds
from cloud.channels.intake import store, unsettled
from cloud.channels.ports import AuthRejected, ChannelError, Listing, OrderSource
from cloud.db.channel_diff import ChannelDiff
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, ChannelRun, ChannelShop

log = logging.getLogger("guanjia.cloud.channels")


@dataclass(frozen=True)
class DiffTuning:
    #: The diff compares the orders created in the last ``days`` days.
    days: int = 30
    every: timedelta = timedelta(days=1)


DEFAULT_DIFF = DiffTuning()


class DiffSource(OrderSource, Protocol):
    """An order source that can also list every order created in a window."""

    def created(self, start: datetime, end: datetime) -> Listing: ...


def _lease_free(now: datetime) -> object:
    return or_(
        ChannelShop.lease_owner.is_(None),
        ChannelShop.lease_until.is_(None),
        ChannelShop.lease_until < now,
    )


def claim_diffs(
    session: Session,
    owner: str,
    now: datetime,
    lease: timedelta,
    every: timedelta = DEFAULT_DIFF.every,
    limit: int = 20,
) -> list[int]:
    """Take the lease of shops whose daily diff is due (schedule on), moving
    ``next_diff_at`` one period on in the same transaction: a second process's UPDATE of the
    same row waits for the first's commit, then finds it not due."""
    scheduled = (ChannelShop.status == "active", ChannelShop.schedule_enabled.is_(True))
    fresh = session.execute(
        select(ChannelShop.id, ChannelShop.account_id).where(
            *scheduled, ~exists().where(ChannelDiff.shop_id == ChannelShop.id)
        )
    ).all()
    for shop_id, account_id in fresh:  # the first diff one period from now
        point = session.begin_nested()
        try:
            session.add(
                ChannelDiff(shop_id=shop_id, account_id=account_id, next_diff_at=now + every)
            )
            session.flush()
            point.commit()
        except IntegrityError:  # another process made it first
            point.rollback()
    due = session.execute(
        select(ChannelDiff.shop_id)
        .join(ChannelShop, ChannelShop.id == ChannelDiff.shop_id)
        .where(*scheduled, ChannelDiff.next_diff_at <= now, _lease_free(now))  # type: ignore[arg-type]
        .order_by(ChannelDiff.next_diff_at, ChannelDiff.shop_id)
        .limit(limit)
    ).scalars()
    out = []
    for shop_id in list(due):
        point = session.begin_nested()
        moved = session.execute(
            update(ChannelDiff)
            .where(ChannelDiff.shop_id == shop_id, ChannelDiff.next_diff_at <= now)
            .values(next_diff_at=now + every)
            .execution_options(synchronize_session=False)
        )
        leased = moved.rowcount == 1 and (  # type: ignore[attr-defined]
            session.execute(
                update(ChannelShop)
                .where(ChannelShop.id == shop_id, _lease_free(now))  # type: ignore[arg-type]
                .values(lease_owner=owner, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            == 1
        )
        if leased:
            point.commit()
            out.append(shop_id)
        else:
            point.rollback()
    return out


def run_diff(
    factory: sessionmaker[Session],
    shop_id: int,
    source: DiffSource,
    *,
    owner: str,
    now: Callable[[], datetime],
    tuning: Tuning = DEFAULT_TUNING,
    diff: DiffTuning = DEFAULT_DIFF,
) -> RunResult:
    """One diff of the shop; the run (kind ``diff``) records the window, pages, calls, the
    orders stored new (``orders_new``) and, when any were found that the increment list had
    passed over, an alarm in ``error`` while the outcome stays ``ok``."""
    started = now()
    with transaction(factory) as s:
        shop = s.get(ChannelShop, shop_id)
        if shop is None:
            raise ValueError(f"no shop {shop_id}")
        run = ChannelRun(
            account_id=shop.account_id,
            shop_id=shop_id,
            stream=STREAM,
            kind="diff",
            owner=owner,
            started_at=started,
            outcome="running",
        )
        s.add(run)
        if shop.status == "needs_reauth":
            run.outcome, run.finished_at, run.error = "needs_reauth", started, shop.status_reason
        elif not shops.take_lease(s, shop_id, owner, started, tuning.lease):
            run.outcome, run.finished_at = "busy", started
            run.error = "another hub process is downloading this shop"
        s.flush()
        if run.outcome != "running":
            return RunResult(run.id, run.outcome, None, error=run.error)
        mark = shops.watermark(s, shop_id, STREAM)
        lo = max(_seconds(started - timedelta(days=diff.days)), _seconds(shop.start_from))
        hi = _seconds(started - tuning.lag)
        run.window_start, run.window_end = lo, hi
        run_id = run.id
        s.expunge(shop)
    # Only what the download had its chance at counts as *found*: a trade whose listed
    # ``modified`` lies beyond the watermark less the overlap may simply not be due yet.
    passed = (mark - tuning.overlap) if mark is not None else None
    result = RunResult(run_id, "running", mark)
    found = 0
    try:
        day = lo
        while day < hi:
            end = min(day + timedelta(days=1), hi)
            calls0 = source.calls
            read_at = now()
            listing = source.created(day, end)
            with factory() as s:
                need = unsettled(s, shop_id, listing.modified, tuning.settle)
                have = set(
                    s.execute(
                        select(ChannelOrder.external_id).where(
                            ChannelOrder.shop_id == shop_id,
                            ChannelOrder.external_id.in_(need),
                        )
                    ).scalars()
                )
            missing = [
                ext
                for ext in need
                if ext not in have and passed is not None and listing.modified[ext] <= passed
            ]
            trades = source.fetch(need)
            result.pages += listing.pages
            result.calls += source.calls - calls0
            at = now()
            with transaction(factory) as s:
                if not shops.keep_lease(s, shop_id, owner, at, tuning.lease):
                    raise ChannelError("the lease ran out before the diff was stored; not stored")
                stored = store(s, shop, trades, at, read_at, guard=tuning.guard)
            found += len(missing)
            result.new += stored.new
            result.changed += stored.changed
            result.held += stored.held
            if missing:
                log.error(
                    "channels: the daily diff of shop %s found %d orders the increment list "
                    "never showed: %s",
                    shop.code,
                    len(missing),
                    ", ".join(missing[:10]),
                )
            day = end
        result.outcome = "ok"
        if found:
            result.error = (
                f"alarm: the daily diff found {found} orders the increment list never showed "
                "(stored now); the download misses orders"
            )
    except AuthRejected as err:
        result.outcome, result.error = "needs_reauth", str(err)
    except ChannelError as err:
        result.outcome, result.error = "failed", str(err)
    finally:
        with transaction(factory) as s:
            done = s.get(ChannelRun, run_id)
            assert done is not None
            ended = result.outcome != "running"
            done.outcome = result.outcome if ended else "failed"
            done.error = (result.error or None) if ended else "crashed"
            done.finished_at = now()
            done.pages, done.calls = result.pages, result.calls
            done.orders_new, done.orders_changed = result.new, result.changed
            done.orders_held = result.held
            row = s.get(ChannelDiff, shop_id)
            if row is None:  # a diff run by hand before the schedule made the row
                row = ChannelDiff(
                    shop_id=shop_id,
                    account_id=done.account_id,
                    next_diff_at=started + diff.every,
                    found_total=0,
                )
                s.add(row)
            row.last_diff_at, row.last_outcome = started, done.outcome
            row.last_found = found
            row.found_total = (row.found_total or 0) + found
            if result.outcome == "needs_reauth":
                parked = s.get(ChannelShop, shop_id)
                assert parked is not None
                parked.status, parked.status_reason = "needs_reauth", result.error
            shops.drop_lease(s, shop_id, owner)
    return result
