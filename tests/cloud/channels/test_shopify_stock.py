"""The stock push to a Shopify shop (cloud/channels/shopify/stock.py): the same machinery as
Taobao's (F + D − P, sent as ``inventory_levels/adjust.json``), against the simulator's
Shopify store while buyers pay during pushes. Shopify's REST has no idempotency key, so a
lost answer is resolved to the side that never oversells; the ablation (our figure written
with ``set.json``) oversells. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from cloud.channels import stock_policy
from cloud.db.channel_stock import ChannelStockItem
from cloud.db.engine import transaction
from cloud.stock.ledger import receive
from simulators.marketplace.market import Faults
from simulators.marketplace.stock import StockFaults
from tests.cloud.channels.harness import Shop
from tests.cloud.channels.stock_harness import (
    SKUS,
    dirty,
    drain,
    figure,
    nick,
    setup,
    simulate_stock,
)


def on_sale(shop: Shop, code: str) -> int:
    return shop.market.stock.levels.get((nick(shop), code), 0)


def pending(shop: Shop, code: str) -> int | None:
    with shop.hub.factory() as s:
        return s.execute(
            select(ChannelStockItem.pending_delta).where(
                ChannelStockItem.shop_id == shop.shop_id, ChannelStockItem.sku_code == code
            )
        ).scalar_one()


SHOWS = re.compile(r"the channel shows (\d+), our figure is (\d+)")


@pytest.mark.parametrize("seed", [4])
def test_shopify_never_oversold_and_converges_with_buyers_paying_during_pushes(
    engine: Engine, seed: int
) -> None:
    busy = StockFaults(buy_during_push=0.5)
    # Full call buckets (429: refused before anything was done): exactly our figure after.
    limits = Faults(rate_limit=0.1)
    assert simulate_stock(engine, seed, shopify=True, stock=busy, faults=limits, rounds=4) == []
    # 5xx and HTML pages too (a change may or may not have been applied): never oversold,
    # never more than our figure; fewer where an increase was counted as applied and was not.
    wrong = simulate_stock(engine, 100 + seed, shopify=True, stock=busy, rounds=4)
    assert not [w for w in wrong if "oversold" in w or "dirty" in w]
    for w in wrong:
        shows = SHOWS.search(w)
        assert shows is not None and int(shows[1]) < int(shows[2]), w


def test_ablation_shopify_set_json_overwrite_oversells(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        pytest.skip("the push's arithmetic is the same on both databases; CI time is tight")
    busy = StockFaults(buy_during_push=0.5)
    for seed in range(12):
        wrong = simulate_stock(engine, seed, shopify=True, stock=busy, blind=True)
        if any(w.startswith("oversold") for w in wrong):
            return
    raise AssertionError("set.json of our figure never oversold: the simulator is too easy")


def test_a_lost_answer_without_a_key_never_shows_more_than_we_have(engine: Engine) -> None:
    shop, received = setup(engine, 21, stock=StockFaults(), shopify=True)
    drain(shop)  # the first push: every SKU at our figure
    assert all(on_sale(shop, c) == received[c] for c in SKUS) and not dirty(shop)
    market = shop.market
    # An increase whose answer is lost (it committed): counted as applied, not sent again.
    market.stock.faults.push_timeout = 1.0
    with transaction(shop.hub.factory) as s:
        receive(s, shop.hub.account_id, "WH1", "SKU-B", 4, "t", datetime.now(UTC))
    drain(shop)
    assert pending(shop, "SKU-B") == 4 and on_sale(shop, "SKU-B") == received["SKU-B"] + 4
    market.stock.faults.push_timeout = 0.0
    market.advance(700)  # past the row's backoff
    drain(shop)
    adds = [c for c in market.stock.log if c["sku"] == "SKU-B" and c["action"] == "add"]
    assert [c["delta"] for c in adds][-1:] == [4] and len(adds) == 2  # the first push, then +4
    assert on_sale(shop, "SKU-B") == figure(shop, "SKU-B") and pending(shop, "SKU-B") is None
    # A decrease whose answer is lost: sent again (Shopify applies it twice): the shop shows
    # fewer than our figure, never more.
    market.stock.faults.push_timeout = 1.0
    with transaction(shop.hub.factory) as s:
        stock_policy.set_policy(
            s,
            shop.hub.account_id,
            shop.code,
            enabled=True,
            safety_stock=2,
            share_pct=100,
            now=datetime.now(UTC),
        )
    drain(shop)
    market.stock.faults.push_timeout = 0.0
    market.advance(700)
    drain(shop)
    for code in SKUS:
        ours = max(0, figure(shop, code) - 2)
        assert on_sale(shop, code) <= ours, code
    assert on_sale(shop, "SKU-B") < max(0, figure(shop, "SKU-B") - 2)  # doubled: fewer
