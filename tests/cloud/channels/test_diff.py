"""The daily diff of order ids (cloud/channels/diff.py) against the marketplace simulator, with
trades the increment list never shows (the ``increment_hidden`` fault): the download and the
re-scan miss them (the ablation), the diff finds, stores and counts them, and a second diff
finds nothing. Scheduled once a day, with the shop's lease. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from cloud.channels import diff, schedule, shops
from cloud.db.channel_diff import ChannelDiff
from cloud.db.engine import transaction
from cloud.db.models import ChannelRun, SalesOrder
from simulators.marketplace.market import Faults, Market
from tests.cloud.channels.harness import at, make_hub, make_shop, scheduler, stock_up


def test_the_diff_finds_what_the_increment_list_never_showed(engine: Engine) -> None:
    hub = make_hub(engine)
    stock_up(hub)
    market = Market(seed=41, faults=Faults(increment_hidden=0.15))
    shop = make_shop(hub, market, "tb1")
    for _ in range(6):
        market.advance(120, 0.15)
        assert shop.run().outcome == "ok"
    for _ in range(2):  # buyers stop; the watermark passes everything
        market.advance(900)
        assert shop.run().outcome == "ok"
    truth = {str(t) for t in market.truth_state()["trades"]}
    hidden = {str(t) for t in market.hidden}
    # Ablation: the download, and the hourly re-scan too, read the increment list only.
    assert shop.run(rescan=True).outcome == "ok"
    assert len(hidden) >= 3 and truth - set(shop.stored()) == hidden

    result = diff.run_diff(hub.factory, shop.shop_id, shop.source(), owner="hub-1", now=shop.now)
    assert result.outcome == "ok" and result.new == len(hidden)
    assert result.error is not None and f"found {len(hidden)} orders" in result.error
    stored = shop.stored()
    assert set(stored) == truth
    final = market.truth_state()["trades"]
    for tid in hidden:  # as the download would have stored them: final version, orders made
        assert stored[tid].modified == at(final[tid]["modified"])
        paid = final[tid]["status"] == "WAIT_SELLER_SEND_GOODS"
        assert stored[tid].state == ("imported" if paid else stored[tid].state)
    with hub.factory() as s:
        row = s.get_one(ChannelDiff, shop.shop_id)
        assert (row.last_found, row.found_total, row.last_outcome) == (
            len(hidden),
            len(hidden),
            "ok",
        )
        run = s.get_one(ChannelRun, result.run_id)
        assert run.kind == "diff" and run.orders_new == len(hidden) and run.pages >= 1
        assert run.window_start is not None and run.window_start <= at(market.truth[0]["at"])
        made = s.execute(
            select(SalesOrder.order_no, func.count())
            .where(SalesOrder.account_id == hub.account_id)
            .group_by(SalesOrder.order_no)
        ).all()
        assert made and all(n == 1 for _, n in made)
        assert shops.watermark(s, shop.shop_id, "orders") is not None

    again = diff.run_diff(hub.factory, shop.shop_id, shop.source(), owner="hub-1", now=shop.now)
    assert again.outcome == "ok" and again.new == 0 and again.error is None
    with hub.factory() as s:
        row = s.get_one(ChannelDiff, shop.shop_id)
        assert (row.last_found, row.found_total) == (0, len(hidden))
        orders = s.execute(
            select(func.count()).where(SalesOrder.account_id == hub.account_id)
        ).scalar_one()
        assert orders == len(made)


def test_the_diff_runs_once_a_day_with_the_lease(engine: Engine) -> None:
    hub, market = make_hub(engine), Market(seed=42, faults=Faults(increment_hidden=0.3))
    shop = make_shop(hub, market, "tb1")
    with transaction(hub.factory) as s:
        schedule.set_schedule(s, hub.account_id, "tb1", interval_s=21_600, enabled=True)
    a, b = scheduler(hub, [shop], "hub-a"), scheduler(hub, [shop], "hub-b")
    for _ in range(9):  # 48 hours in 6-hour steps, buyers placing meanwhile
        market.advance(21_600, 0.001)
        a.tick()
        assert b.tick().runs == []  # the same moment: nothing left for the second process
    with hub.factory() as s:
        runs = s.execute(select(ChannelRun).order_by(ChannelRun.id)).scalars().all()
        kinds = [r.kind for r in runs]
        assert {r.owner for r in runs} == {"hub-a"} and {r.outcome for r in runs} == {"ok"}
    # The first diff a day after the first scheduled run, then one a day; never twice.
    assert kinds.count("diff") == 2 and kinds.count("download") == 9, kinds
    with hub.factory() as s:
        row = s.get_one(ChannelDiff, shop.shop_id)
        assert row.last_outcome == "ok" and row.next_diff_at > shop.now()
    truth = {str(t) for t in market.truth_state()["trades"]}
    assert market.hidden and set(shop.stored()) >= {
        t for t in truth if market.trades[int(t)][-1].modified < market.now - 86_400
    }

    # Due, but another process holds the shop's lease: not claimed, and still due after.
    market.advance(86_400)
    with transaction(hub.factory) as s:
        assert shops.take_lease(s, shop.shop_id, "hub-z", shop.now(), timedelta(minutes=10))
    with transaction(hub.factory) as s:
        assert diff.claim_diffs(s, "hub-a", shop.now(), timedelta(minutes=10)) == []
    with hub.factory() as s:
        assert s.get_one(ChannelDiff, shop.shop_id).next_diff_at <= shop.now()
