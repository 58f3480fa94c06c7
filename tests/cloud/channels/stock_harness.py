"""The stock push against the marketplace simulator, in-process (as harness.py): buyers
buying while the hub downloads and pushes, checked against the simulator's stock log."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from cloud.channels import stock_policy, stock_push
from cloud.channels.ports import ChannelListing, InventorySink
from cloud.channels.shopify.stock import ShopifyStock
from cloud.channels.taobao.client import TopClient
from cloud.channels.taobao.stock import TaobaoStock
from cloud.db.channel_stock import ChannelStockItem
from cloud.db.engine import transaction
from cloud.stock.ledger import receive
from simulators.marketplace.market import Faults, Market
from simulators.marketplace.stock import StockFaults
from tests.cloud.channels.harness import KEY, SECRET, Shop, make_hub, make_shop
from tests.cloud.channels.shopify_harness import ShopifyShop, make_shopify_shop

SKUS = ("SKU-A", "SKU-B", "SKU-C", "SKU-D")


class UnkeyedStock(TaobaoStock):
    """The ablation: incremental changes without the idempotency key."""

    def add(self, listing: ChannelListing, delta: int, key: str) -> int:
        return self._update(listing, {"quantity": str(delta), "type": "2"})


def sink(shop: Shop, attempts: int = 2, keyed: bool = True) -> InventorySink:
    if isinstance(shop, ShopifyShop):  # keyless by nature: inventory_levels/adjust.json
        return ShopifyStock(shop.admin(attempts))
    top = TopClient(
        shop.http,
        "http://sim/router/rest",
        KEY,
        SECRET,
        shop.session_key(),
        sign_method="hmac-sha256",
        now=shop.now,
        sleep=lambda s: shop.market.advance(s, shop.rate),
        attempts=attempts,
    )
    return TaobaoStock(top) if keyed else UnkeyedStock(top)


def drain(
    shop: Shop, blind: bool = False, owner: str = "hub-1", keyed: bool = True
) -> stock_push.Pushed:
    return stock_push.drain(
        shop.hub.factory,
        lambda _row: sink(shop, keyed=keyed),
        owner=owner,
        now=shop.now,
        blind=blind,
    )


def dirty(shop: Shop) -> int:
    with shop.hub.factory() as s:
        return len(
            s.execute(
                select(ChannelStockItem.id).where(
                    ChannelStockItem.shop_id == shop.shop_id, ChannelStockItem.dirty
                )
            ).all()
        )


def figure(shop: Shop, code: str) -> int:
    with shop.hub.factory() as s:
        return stock_push.our_figure(s, shop.hub.account_id, code, datetime.now(UTC))


def nick(shop: Shop) -> str:
    """The shop's seller in the simulated world (a Shopify shop's is its domain)."""
    return shop.domain if isinstance(shop, ShopifyShop) else f"nick-{shop.code}"


def setup(
    engine: Engine,
    seed: int,
    faults: Faults | None = None,
    stock: StockFaults | None = None,
    policy: tuple[int, int] = (0, 100),
    *,
    shopify: bool = False,
) -> tuple[Shop, dict[str, int]]:
    """A hub and a shop of seed's own; ``policy``: (safety stock, share %)."""
    hub = make_hub(engine, f"stock{seed}")
    market = Market(seed=seed, faults=faults or Faults())
    market.stock.faults = stock or StockFaults.seeded(seed)
    make = make_shopify_shop if shopify else make_shop
    shop = make(hub, market, f"st{seed}")
    # The seller lists the SKUs at 0 until the hub's first push (a first push held up by
    # call limits must not leave the buyers unlimited meanwhile).
    market.stock.limited.add(nick(shop))
    received = {code: market.rng.randint(2, 12) for code in SKUS}
    now = datetime.now(UTC)
    with transaction(hub.factory) as s:
        for code, qty in received.items():
            receive(s, hub.account_id, "WH1", code, qty, "t", now)
        stock_policy.set_policy(
            s,
            hub.account_id,
            shop.code,
            enabled=True,
            safety_stock=policy[0],
            share_pct=policy[1],
            now=now,
        )
    return shop, received


def simulate_stock(
    engine: Engine,
    seed: int,
    *,
    blind: bool = False,
    keyed: bool = True,
    rounds: int = 6,
    shopify: bool = False,
    stock: StockFaults | None = None,
    faults: Faults | None = None,
) -> list[str]:
    """Per seed: call-limit and platform faults from the seed, concurrent purchases during
    pushes and lost answers (StockFaults.seeded), goods received now and then; buyers buy
    while the hub downloads and pushes. Then quiet: download and push until settled.
    Violations: units sold on the channel beyond what we received (oversold), and a channel
    quantity that is not our figure (after safety stock and share) after quiet."""
    r = random.Random(seed)
    drawn = Faults(
        rate_limit=r.choice([0.0, 0.05, 0.1]),
        isp_error=r.choice([0.0, 0.05]),
        html=r.choice([0.0, 0.02]),
    )
    faults = faults or drawn
    policy = (0, 100) if r.random() < 0.5 else (r.randint(0, 2), r.choice([50, 80, 100]))
    shop, received = setup(engine, seed, faults, stock, policy=policy, shopify=shopify)
    market = shop.market
    shop.rate = 0.05 + r.random() * 0.2
    drain(shop, blind, keyed=keyed)  # the first push: the shop shows our stock from now on
    for _ in range(rounds):
        market.advance(r.uniform(10, 120), shop.rate)
        roll = r.random()
        if roll < 0.3:
            code, more = r.choice(SKUS), r.randint(1, 4)
            with transaction(shop.hub.factory) as s:
                receive(s, shop.hub.account_id, "WH1", code, more, "t", datetime.now(UTC))
            received[code] += more
        if roll > 0.2:
            shop.run(page_size=100)
        drain(shop, blind, keyed=keyed)
    shop.rate = 0.0  # quiet: no buyers, and none paying during a push either
    market.stock.faults.buy_during_push = 0.0
    for _ in range(2):  # past the download's safety lag: every paid trade is downloaded
        market.advance(300, 0.0)
        shop.run(page_size=100)
        for _ in range(20):
            drain(shop, blind, keyed=keyed)
            if not dirty(shop):
                break
            market.advance(600, 0.0)  # past any backoff
    wrong: list[str] = []
    sold: dict[str, int] = {}
    for change in market.stock.log:
        if change["action"] == "sale":
            sold[change["sku"]] = sold.get(change["sku"], 0) - change["delta"]
    for code in SKUS:
        if sold.get(code, 0) > received[code]:
            wrong.append(f"oversold {code}: sold {sold[code]}, had {received[code]}")
        on_sale = market.stock.levels.get((nick(shop), code), 0)
        ours = max(0, figure(shop, code) - policy[0]) * policy[1] // 100
        if not wrong and on_sale != ours:
            wrong.append(f"{code}: the channel shows {on_sale}, our figure is {ours}")
    if dirty(shop):
        wrong.append(f"{dirty(shop)} rows still dirty after quiet")
    return wrong
