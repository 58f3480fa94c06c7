"""A download run (订单下载) of one shop's order stream.

The rules that make it miss nothing and double nothing (docs/channels.md):
- the window runs from the watermark less an *overlap* to now less a *safety lag* (the
  marketplace's search index shows a change only some time after its ``modified``), cut into
  slices no longer than the API allows;
- each slice is fetched whole (outside any transaction), then stored in one transaction that
  also moves the watermark to the slice's *end*: never to the largest ``modified`` seen, which
  skips the trades that share that second and those indexed late;
- the watermark only moves forward; the stored ``modified`` of an order never goes back;
- a lease keeps a second hub process off the shop; a slice whose lease ran out is not written;
- the marketplace refusing the shop's authorisation parks the shop as "needs_reauth";
- every run is recorded, with its window, pages, counts and error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import shops
from cloud.channels.changes import store
from cloud.channels.intake import unchanged, unsettled
from cloud.channels.ports import AuthRejected, ChannelError, OrderSource
from cloud.db.engine import transaction
from cloud.db.models import ChannelRun, ChannelShop

STREAM = "orders"
#: What a run whose process stopped is marked with, once another process holds the shop.
ABANDONED = "the hub process running it stopped before it finished (its lease ran out)"


@dataclass(frozen=True)
class Tuning:
    #: The marketplace's index may show a change this long after its ``modified``.
    lag: timedelta = timedelta(minutes=2)
    #: Each run goes back this far before the watermark (late indexing beyond the lag).
    overlap: timedelta = timedelta(minutes=10)
    lease: timedelta = timedelta(minutes=10)
    #: How far behind the marketplace's replicas may be: a version read this long after its
    #: ``modified`` is the last of its second (see intake.unsettled).
    settle: timedelta = timedelta(minutes=10)
    #: A re-scan reads the last ``rescan_span`` again (to now less the lag), every
    #: ``rescan_every``: what the index showed later than the overlap reaches back.
    rescan_span: timedelta = timedelta(days=1)
    rescan_every: timedelta = timedelta(hours=1)
    #: Switches for the ablation tests only: production never turns these off.
    guard: bool = True


DEFAULT_TUNING = Tuning()


class LeaseLost(ChannelError):
    """Our lease ran out during the slice and may be another process's now."""


@dataclass
class RunResult:
    run_id: int
    outcome: str
    reached: datetime | None
    pages: int = 0
    calls: int = 0
    new: int = 0
    changed: int = 0
    held: int = 0
    error: str | None = None


def _seconds(at: datetime) -> datetime:
    return at.replace(microsecond=0)  # TOP's times are whole seconds


def download(
    factory: sessionmaker[Session],
    shop_id: int,
    source: OrderSource,
    *,
    owner: str,
    now: Callable[[], datetime],
    tuning: Tuning = DEFAULT_TUNING,
    run_id: int | None = None,
    rescan: bool = False,
) -> RunResult:
    """One run of the shop. ``run_id``: a queued "download now" run (cloud/channels/schedule.py)
    that this run carries out, instead of a new run record.

    ``rescan``: the last ``tuning.rescan_span`` again, to now less the lag, with the same
    intake; the watermark does not move (the window may start after it: moving it would
    claim the part before the window was read)."""
    started = now()
    with transaction(factory) as s:
        shop = s.get(ChannelShop, shop_id)
        if shop is None:
            raise ValueError(f"no shop {shop_id}")
        queued = s.get(ChannelRun, run_id) if run_id is not None else None
        if queued is not None and queued.shop_id == shop_id and queued.outcome == "queued":
            run = queued
            run.owner, run.started_at, run.outcome = owner, started, "running"
        else:
            run = ChannelRun(
                account_id=shop.account_id,
                shop_id=shop_id,
                stream=STREAM,
                owner=owner,
                started_at=started,
                outcome="running",
            )
            s.add(run)
        run.kind = "rescan" if rescan else "download"
        if shop.status == "needs_reauth":
            run.outcome, run.finished_at = "needs_reauth", started
            run.error = shop.status_reason
        elif not shops.take_lease(s, shop_id, owner, started, tuning.lease):
            run.outcome, run.finished_at = "busy", started
            run.error = "another hub process is downloading this shop"
        s.flush()
        if run.outcome == "running":
            # We hold the lease: a run still "running" is one whose process stopped.
            s.execute(
                update(ChannelRun)
                .where(
                    ChannelRun.shop_id == shop_id,
                    ChannelRun.outcome == "running",
                    ChannelRun.id != run.id,
                )
                .values(outcome="failed", error=ABANDONED, finished_at=started)
                .execution_options(synchronize_session=False)
            )
        if run.outcome != "running":
            return RunResult(run.id, run.outcome, None, error=run.error)
        mark = shops.watermark(s, shop_id, STREAM) or shop.start_from
        lo, hi = _seconds(mark - tuning.overlap), _seconds(started - tuning.lag)
        if rescan:
            lo = max(_seconds(started - tuning.rescan_span), _seconds(shop.start_from))
        run.window_start, run.window_end = lo, hi
        run_id = run.id
    result = RunResult(run_id, "running", mark)
    try:
        _slices(factory, shop, source, result, lo, hi, owner, now, tuning, move=not rescan)
        result.outcome = "ok"
    except AuthRejected as err:
        result.outcome, result.error = "needs_reauth", str(err)
    except ChannelError as err:
        result.outcome, result.error = "failed", str(err)
    finally:
        with transaction(factory) as s:
            done = s.get(ChannelRun, run_id)
            assert done is not None
            done.outcome = result.outcome if result.outcome != "running" else "failed"
            done.error = (result.error or None) if result.outcome != "running" else "crashed"
            done.finished_at, done.reached = now(), result.reached
            done.pages, done.calls = result.pages, result.calls
            done.orders_new, done.orders_changed = result.new, result.changed
            done.orders_held = result.held
            if result.outcome == "needs_reauth":
                parked = s.get(ChannelShop, shop_id)
                assert parked is not None
                parked.status, parked.status_reason = "needs_reauth", result.error
            shops.drop_lease(s, shop_id, owner)
    return result


def _slices(
    factory: sessionmaker[Session],
    shop: ChannelShop,
    source: OrderSource,
    result: RunResult,
    start: datetime,
    end: datetime,
    owner: str,
    now: Callable[[], datetime],
    tuning: Tuning,
    *,
    move: bool = True,
) -> None:
    lo = start
    while lo < end:
        hi = min(lo + source.max_span, end)
        calls0, read_at = source.calls, now()
        listing = source.listed(lo, hi)
        with factory() as s:
            need = unsettled(s, shop.id, listing.modified, tuning.settle)
        # Whole from the list where it gave them so, else one read each.
        trades = [listing.trades[t] for t in need if t in listing.trades]
        trades += source.fetch([t for t in need if t not in listing.trades])
        if trades:
            # Versions held already, equal (a run's overlap lists its last minutes again):
            # not stored again (intake.unchanged says which, and why that keeps every rule).
            with factory() as s:
                same = unchanged(s, shop.id, trades, read_at, tuning.settle)
            if same:
                trades = [t for t in trades if t.external_id not in same]
        result.pages += listing.pages
        result.calls += source.calls - calls0
        at = now()
        with transaction(factory) as s:
            # The lease first: this UPDATE holds the shop's row until the commit, so no other
            # process can take the lease between this check and the watermark's move.
            if not shops.keep_lease(s, shop.id, owner, at, tuning.lease):
                raise LeaseLost("the lease ran out before the slice was stored; not stored")
            stored = store(s, shop, trades, at, read_at, guard=tuning.guard)
            if move:
                result.reached = shops.advance_watermark(s, shop, STREAM, hi, at)
            run = s.get(ChannelRun, result.run_id)
            assert run is not None
            run.reached = result.reached
        result.new += stored.new
        result.changed += stored.changed
        result.held += stored.held
        lo = hi
