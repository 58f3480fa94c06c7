"""The stock push's rules one at a time (cloud/channels/stock_push.py): safety stock and share,
unlisted codes, coalescing, a lost answer sent again under its key, a channel that sold more
than we have, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from cloud.catalogue.skus import SkuIn, upsert_sku
from cloud.channels import stock_policy, stock_push
from cloud.db.channel_stock import ChannelStockItem
from cloud.db.engine import transaction
from cloud.stock.ledger import adjust, receive
from simulators.marketplace.market import Faults
from simulators.marketplace.stock import StockFaults
from tests.cloud.channels.harness import Shop, scheduler
from tests.cloud.channels.stock_harness import SKUS, dirty, drain, setup, sink


def on_sale(shop: Shop, code: str) -> int:
    return shop.market.stock.levels.get((f"nick-{shop.code}", code), 0)


def row(shop: Shop, code: str) -> ChannelStockItem:
    with shop.hub.factory() as s:
        found: ChannelStockItem = s.execute(
            select(ChannelStockItem).where(
                ChannelStockItem.shop_id == shop.shop_id, ChannelStockItem.sku_code == code
            )
        ).scalar_one()
        return found


def test_safety_stock_share_and_unlisted_codes(engine: Engine) -> None:
    shop, received = setup(engine, 7, stock=StockFaults())
    now = datetime.now(UTC)
    with transaction(shop.hub.factory) as s:
        upsert_sku(
            s,
            SkuIn(sku_code="NOT-ON-SALE", name="x", barcodes=["BC-NOS"]),
            now,
            shop.hub.account_id,
        )
        stock_policy.set_policy(
            s, shop.hub.account_id, shop.code, enabled=True, safety_stock=2, share_pct=50, now=now
        )
    drain(shop)
    for code in SKUS:
        assert on_sale(shop, code) == max(0, received[code] - 2) * 50 // 100, code
        assert row(shop, code).state == "ok"
    assert row(shop, "NOT-ON-SALE").state == "unlisted" and not dirty(shop)


def test_changes_are_coalesced_per_sku_and_nothing_is_pushed_twice(engine: Engine) -> None:
    shop, received = setup(engine, 8, stock=StockFaults())
    drain(shop)
    before = len(shop.market.stock.log)
    with transaction(shop.hub.factory) as s:
        for _ in range(5):
            receive(s, shop.hub.account_id, "WH1", "SKU-A", 1, "t", datetime.now(UTC))
    for _ in range(3):
        with transaction(shop.hub.factory) as s:
            receive(s, shop.hub.account_id, "WH1", "SKU-A", 1, "t", datetime.now(UTC))
    assert dirty(shop) == 1
    drain(shop)
    drain(shop)
    pushes = [c for c in shop.market.stock.log[before:] if c["action"] == "add"]
    assert [c["delta"] for c in pushes] == [8]
    assert on_sale(shop, "SKU-A") == received["SKU-A"] + 8


def test_a_lost_answer_is_sent_again_under_its_key_and_applied_once(engine: Engine) -> None:
    shop, received = setup(engine, 9, stock=StockFaults())
    drain(shop)
    shop.market.stock.faults.push_timeout = 1.0
    with transaction(shop.hub.factory) as s:
        receive(s, shop.hub.account_id, "WH1", "SKU-B", 4, "t", datetime.now(UTC))
    drain(shop)
    r = row(shop, "SKU-B")
    assert r.state == "retry" and r.pending_delta == 4 and r.dirty
    assert on_sale(shop, "SKU-B") == received["SKU-B"] + 4  # it committed
    shop.market.stock.faults.push_timeout = 0.0
    shop.market.advance(700)
    drain(shop)
    assert on_sale(shop, "SKU-B") == received["SKU-B"] + 4  # not twice
    r = row(shop, "SKU-B")
    assert r.state == "ok" and r.pending_delta is None and not r.dirty


def test_a_channel_that_sold_more_than_we_have_goes_to_zero(engine: Engine) -> None:
    shop, received = setup(engine, 10, stock=StockFaults())
    drain(shop)
    m, nick = shop.market, f"nick-{shop.code}"
    for _ in range(received["SKU-C"] - 1):  # buyers take all but one; nothing downloaded
        m.stock.buy_now(m, nick, "SKU-C")
    with transaction(shop.hub.factory) as s:  # and we lose all but one unit
        adjust(
            s,
            shop.hub.account_id,
            "WH1",
            "SKU-C",
            -(received["SKU-C"] - 1),
            "damaged",
            "t",
            datetime.now(UTC),
        )
    for _ in range(3):
        drain(shop)
    assert on_sale(shop, "SKU-C") == 0
    assert row(shop, "SKU-C").state == "ok" and not dirty(shop)


def test_two_processes_never_push_the_same_row(engine: Engine) -> None:
    shop, _ = setup(engine, 11, Faults(), StockFaults())
    now = shop.now()
    with transaction(shop.hub.factory) as s:
        mine = stock_push.claim(s, "hub-1", now)
    with transaction(shop.hub.factory) as s:
        assert stock_push.claim(s, "hub-2", now) == []
    assert len(mine) == len(SKUS)
    # hub-1 stalls past its lease; hub-2 takes the rows over and pushes them.
    later = now + stock_push.LEASE + timedelta(seconds=1)
    with transaction(shop.hub.factory) as s:
        theirs = stock_push.claim(s, "hub-2", later)
    assert sorted(theirs) == sorted(mine)
    for row_id in theirs:
        stock_push.push_row(shop.hub.factory, sink(shop), row_id, owner="hub-2", now=shop.now)
    pushed = len([c for c in shop.market.stock.log if c["action"] == "add"])
    # hub-1 wakes up: its rows are not its own any more, it writes nothing.
    result = stock_push.push_row(shop.hub.factory, sink(shop), mine[0], owner="hub-1", now=shop.now)
    assert result == "unchanged"
    assert len([c for c in shop.market.stock.log if c["action"] == "add"]) == pushed


def test_the_schedulers_tick_pushes_the_dirty_rows(engine: Engine) -> None:
    shop, received = setup(engine, 12, stock=StockFaults())
    sch = scheduler(shop.hub, [shop], "hub-1", sinks=lambda _row: sink(shop))
    assert sch.tick().pushed.pushed == len(SKUS)
    assert {c: on_sale(shop, c) for c in SKUS} == received
    assert sch.tick().pushed == stock_push.Pushed()  # nothing dirty: nothing claimed
