"""Schedules in the database: two hub processes' schedulers run each due download once; a shop
whose process died is taken over when its lease runs out. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from cloud.channels import schedule
from cloud.channels.download import ABANDONED
from cloud.channels.scheduler import Scheduler
from cloud.db.engine import transaction
from cloud.db.models import ChannelRun, ChannelShop
from cloud.errors import ConflictError, InvalidError
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Shop, make_hub, make_shop, scheduler


def _runs(shop: Shop) -> list[ChannelRun]:
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(ChannelRun).where(ChannelRun.shop_id == shop.shop_id).order_by(ChannelRun.id)
            ).scalars()
        )


def test_two_schedulers_run_each_due_download_once(engine: Engine) -> None:
    hub, market = make_hub(engine), Market(seed=31)
    shops = [make_shop(hub, market, f"tb{i}") for i in range(3)]
    with transaction(hub.factory) as s:
        for sh in shops:
            schedule.set_schedule(s, hub.account_id, sh.code, interval_s=60, enabled=True)
    a, b = scheduler(hub, shops, "hub-a"), scheduler(hub, shops, "hub-b")
    periods = 5
    errors: list[BaseException] = []

    def tick(sch: Scheduler, start: threading.Barrier) -> None:
        try:
            start.wait(10)
            sch.tick()
        except BaseException as err:
            errors.append(err)

    for _ in range(periods):
        market.advance(61, 0.2)  # buyers keep placing and paying meanwhile
        start = threading.Barrier(2)
        threads = [threading.Thread(target=tick, args=(x, start)) for x in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
    for sh in shops:
        runs = _runs(sh)
        # One run per due time, each carried out by one of the two processes; never a
        # second one that found the shop busy (the claim is the lease).
        assert [r.outcome for r in runs] == ["ok"] * periods, [(r.outcome, r.error) for r in runs]
    owners = Counter(r.owner for sh in shops for r in _runs(sh))
    assert set(owners) <= {"hub-a", "hub-b"} and sum(owners.values()) == 3 * periods
    # Nothing is due until the interval has passed.
    assert a.tick().runs == [] and b.tick().runs == []


def test_a_disabled_schedule_runs_nothing_but_download_now(engine: Engine) -> None:
    hub, market = make_hub(engine), Market(seed=32)
    shop = make_shop(hub, market, "tb1")
    with transaction(hub.factory) as s:
        schedule.set_schedule(s, hub.account_id, "tb1", interval_s=None, enabled=False)
    sch = scheduler(hub, [shop], "hub-a")
    market.advance(3600)
    assert sch.tick().runs == []
    with transaction(hub.factory) as s:
        queued = schedule.request_download(s, hub.account_id, "tb1", shop.now()).id
    # A second request while one is queued: refused, and no second run queued.
    with pytest.raises(ConflictError, match="queued already"), transaction(hub.factory) as s:
        schedule.request_download(s, hub.account_id, "tb1", shop.now())
    assert [r.outcome for r in _runs(shop)] == ["queued"]
    (done,) = sch.tick().runs
    assert done.run_id == queued and done.outcome == "ok"
    assert [r.outcome for r in _runs(shop)] == ["ok"]
    market.advance(3600)
    assert sch.tick().runs == []  # still disabled: the request ran once


def test_bad_schedule_is_refused_and_changes_nothing(engine: Engine) -> None:
    hub = make_hub(engine)
    make_shop(hub, Market(seed=33), "tb1")
    with pytest.raises(InvalidError, match="60 to 86400"), transaction(hub.factory) as s:
        schedule.set_schedule(s, hub.account_id, "tb1", interval_s=5, enabled=False)
    with hub.factory() as s:
        row = s.execute(select(ChannelShop)).scalar_one()
        assert (row.interval_s, row.schedule_enabled) == (300, True)


def test_a_dead_processes_shop_is_taken_over_after_its_lease(engine: Engine) -> None:
    hub, market = make_hub(engine), Market(seed=34)
    shop = make_shop(hub, market, "tb1")
    with transaction(hub.factory) as s:
        schedule.set_schedule(s, hub.account_id, "tb1", interval_s=60, enabled=True)
    # hub-a claims the shop and starts its run, then dies (no finish, no lease dropped).
    now = shop.now()
    with transaction(hub.factory) as s:
        (claimed,) = schedule.claim_due(s, "hub-a", now, timedelta(minutes=10))
        s.add(
            ChannelRun(
                account_id=hub.account_id,
                shop_id=claimed.shop_id,
                stream="orders",
                owner="hub-a",
                started_at=now,
                outcome="running",
            )
        )
    b = scheduler(hub, [shop], "hub-b")
    market.advance(120)  # due again, but hub-a's lease runs 10 minutes
    assert b.tick().runs == []
    with pytest.raises(ConflictError, match="running already"), transaction(hub.factory) as s:
        schedule.request_download(s, hub.account_id, "tb1", shop.now())
    market.advance(9 * 60)
    (run,) = b.tick().runs
    assert run.outcome == "ok"
    dead, taken = _runs(shop)
    assert (dead.owner, dead.outcome, dead.error) == ("hub-a", "failed", ABANDONED)
    assert (taken.owner, taken.outcome) == ("hub-b", "ok")


def test_download_now_refused_while_the_shop_needs_reauth(engine: Engine) -> None:
    hub = make_hub(engine)
    shop = make_shop(hub, Market(seed=35), "tb1")
    with transaction(hub.factory) as s:
        row = s.get_one(ChannelShop, shop.shop_id)
        row.status, row.status_reason = "needs_reauth", "TOP error 27 Invalid session"
    with (
        pytest.raises(ConflictError, match="authorise the app again"),
        transaction(hub.factory) as s,
    ):
        schedule.request_download(s, hub.account_id, "tb1", shop.now())
    assert _runs(shop) == []
    assert scheduler(hub, [shop], "hub-a").tick().runs == []  # parked: not scheduled either


def test_the_hourly_rescan_reads_the_last_day_and_never_moves_the_watermark(
    engine: Engine,
) -> None:
    hub, market = make_hub(engine), Market(seed=36)
    shop = make_shop(hub, market, "tb1")
    with transaction(hub.factory) as s:
        schedule.set_schedule(s, hub.account_id, "tb1", interval_s=600, enabled=True)
    sch = scheduler(hub, [shop], "hub-a")
    kinds: list[str] = []
    for _ in range(13):  # two hours in ten-minute steps
        market.advance(600)
        kinds += [r.kind for r in _runs(shop)[len(kinds) :]]
        sch.tick()
    kinds += [r.kind for r in _runs(shop)[len(kinds) :]]
    # A download at every due time, a re-scan once an hour (the first an hour after the first
    # run), each a run of its own on the record.
    assert kinds.count("download") == 13 and kinds.count("rescan") == 2, kinds
    before = shop.watermark()
    late = shop.market.place()  # paid, but its version reaches the index only in 40 minutes
    shop.market.change(late, "pay", status="WAIT_SELLER_SEND_GOODS")
    for v in shop.market.trades[late]:
        v.visible_at += 2400
    market.advance(1800)
    assert shop.run().outcome == "ok"  # the watermark passes the late trade, unseen
    assert str(late) not in shop.stored()
    market.advance(1200)
    mark = shop.watermark()
    result = shop.run(rescan=True)
    assert result.outcome == "ok" and result.new == 1 and str(late) in shop.stored()
    assert shop.watermark() == mark and mark is not None and before is not None and mark > before
    with hub.factory() as s:
        run = s.get_one(ChannelRun, result.run_id)
        assert run.kind == "rescan" and run.window_end is not None and run.window_start is not None
        # The last day (or all of it since the shop's start), to now less the lag.
        assert run.window_start <= mark - timedelta(minutes=60)


class _Slow:
    """Fault injection: a marketplace that answers each call of this shop after ``delay`` s."""

    def __init__(self, inner: object, delay: float) -> None:
        self._inner, self._delay = inner, delay

    def __getattr__(self, name: str) -> object:
        got = getattr(self._inner, name)
        if not callable(got):
            return got

        def slow(*a: object, **kw: object) -> object:
            time.sleep(self._delay)
            return got(*a, **kw)

        return slow


def test_a_slow_shop_does_not_hold_up_the_others_of_its_tick(engine: Engine) -> None:
    """Claimed first, the slow shop's download runs beside the fast one's, which ends first;
    with the shops run one after another (``parallel=1``) the fast one waits for it."""
    hub, market = make_hub(engine), Market(seed=33)
    slow, fast = make_shop(hub, market, "tb-slow"), make_shop(hub, market, "tb-fast")
    with transaction(hub.factory) as s:
        for sh in (slow, fast):
            schedule.set_schedule(s, hub.account_id, sh.code, interval_s=60, enabled=True)
    market.advance(900, rate=0.05)

    def sources(row: ChannelShop) -> object:
        shop = slow if row.id == slow.shop_id else fast
        return _Slow(shop.source(), 0.3) if shop is slow else shop.source()

    for parallel, fast_first in ((4, True), (1, False)):
        sch = scheduler(hub, [slow, fast], f"hub-{parallel}", parallel=parallel)
        sch.sources = sources  # type: ignore[assignment]
        with transaction(hub.factory) as s:  # both due now
            for sh in (slow, fast):
                s.get_one(ChannelShop, sh.shop_id).next_run_at = None
        out = sch.tick()
        assert [r.outcome for r in out.runs] == ["ok", "ok"], out.runs
        with hub.factory() as s:  # the shops, in the order their runs ended
            order = [s.get_one(ChannelRun, r.run_id).shop_id for r in out.runs]
        assert (order[0] == fast.shop_id) is fast_first, (parallel, order)
