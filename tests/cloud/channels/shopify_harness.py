"""The hub's Shopify adapter against the simulator's Shopify-shaped store, in-process.

As harness.py does for Taobao: the simulator is mounted with ``httpx.WSGITransport`` and time
is its virtual clock. Its webhooks are delivered to the hub's receiving function (the one
behind ``POST /api/v1/channels/webhooks/shopify/{code}``) in the same transaction shape the
route uses; test_shopify_api.py sends them through the real route.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from cloud.channels import shipments, shops
from cloud.channels.download import Tuning
from cloud.channels.intake import clean, store
from cloud.channels.shopify import webhooks
from cloud.channels.shopify.client import AdminClient
from cloud.channels.shopify.orders import ShopifyOrders, to_trade
from cloud.channels.shopify.shipments import ShopifyShipments
from cloud.db.engine import transaction
from cloud.db.models import SalesOrder
from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Faults, Market
from simulators.marketplace.shopify.webhooks import WebhookFaults
from tests.cloud.channels.harness import DEFAULT, Hub, Shop, _shippable, _shipping, at, ship

APP_SECRET = "shopify-app-secret"
SITE = "http://sim/admin/api/2024-10"
#: The world's statuses as the adapter names Shopify's (cloud/channels/shopify/orders.py).
EXPECTED = {
    "WAIT_BUYER_PAY": "pending/unfulfilled",
    "WAIT_SELLER_SEND_GOODS": "paid/unfulfilled",
    "WAIT_BUYER_CONFIRM_GOODS": "paid/fulfilled",
    "TRADE_CLOSED_BY_TAOBAO": "cancelled",
}


@dataclass
class ShopifyShop(Shop):
    app: MarketplaceApp = field(default=None)  # type: ignore[assignment]
    trust_body: bool = False

    def __post_init__(self) -> None:
        self.http = httpx.Client(transport=httpx.WSGITransport(app=self.app))

    @property
    def domain(self) -> str:
        return f"{self.code}.myshopify.com"

    def admin(self, attempts: int = 8, token: str | None = None) -> AdminClient:
        return AdminClient(
            self.http,
            SITE,
            token or f"shpat-{self.code}",
            now=self.now,
            sleep=lambda s: self.market.advance(s, self.rate),
            attempts=attempts,
        )

    def source(self, *, limit: int = 5, status: str = "any", **_: Any) -> ShopifyOrders:  # type: ignore[override]
        return ShopifyOrders(self.admin(), limit=limit, status=status)

    def confirmer(self, attempts: int = 3) -> ShopifyShipments:  # type: ignore[override]
        return ShopifyShipments(self.admin(attempts))

    def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        """The hub receiving one webhook (as the route does: receive, or count the refusal)."""
        now = self.now()
        try:
            with transaction(self.hub.factory) as s:
                outcome = webhooks.receive(s, self.code, headers, body, now)
                if self.trust_body and outcome == "accepted":
                    # The ablation: the body taken as the order (no pull).
                    shop = shops.shop_by_code(s, self.hub.account_id, self.code)
                    store(s, shop, [to_trade(orjson.loads(body))], now, now)
        except webhooks.WebhookRejected as err:
            with transaction(self.hub.factory) as s:
                webhooks.count(s, err.reason, url, now, shop=err.shop)
            return 401
        return 200

    def hooks(self) -> int:
        """Deliver the due webhooks, then pull what they named (the scheduler's step)."""
        sent = self.app.shopify.webhooks.deliver(self.post)
        if not self.trust_body:
            webhooks.pull_hinted(
                self.hub.factory, self.shop_id, self.source(), owner="hub-1", now=self.now
            )
        return sent


def make_shopify_shop(hub: Hub, market: Market, code: str) -> ShopifyShop:
    app = MarketplaceApp(market)
    domain = f"{code}.myshopify.com"
    app.shopify.add_shop(domain, f"shpat-{code}", APP_SECRET)
    app.shopify.webhooks.addresses[domain] = f"http://hub/api/v1/channels/webhooks/shopify/{code}"
    with transaction(hub.factory) as s:
        shop = shops.add_shop(
            s,
            hub.account_id,
            shops.ShopIn(
                code=code,
                api_url=SITE,
                app_key=domain,
                app_secret=APP_SECRET,
                session_key=f"shpat-{code}",
                start_from=at(market.now),
                platform="shopify",
            ),
            at(market.now),
        )
        shop_id = shop.id
    return ShopifyShop(hub, market, shop_id, code, app=app)


def simulate_shopify(
    hub: Hub,
    seed: int,
    *,
    faults: Faults | None = None,
    hook_faults: WebhookFaults | None = None,
    tuning: Tuning = DEFAULT,
    rounds: int = 8,
    interval: tuple[float, float] = (30.0, 300.0),
    shipping: bool = False,
    hooks: bool = True,
    trust_body: bool = False,
    downloads: bool = True,
    settle: int = 4,
    status: str = "any",
) -> list[str]:
    """Buyers and faults from ``seed``, webhooks delivered (and their orders pulled) between
    download runs; the invariants' violations, as harness.simulate checks them, plus: each
    stored order has the final version's content (its tags), not only its ``updated_at``."""
    market = Market(seed=seed, faults=faults or Faults.seeded(seed))
    shop = make_shopify_shop(hub, market, f"sh{seed}")
    shop.app.shopify.webhooks.faults = hook_faults or WebhookFaults.seeded(seed)
    shop.trust_body = trust_body
    shop.rate = 0.03 + market.rng.random() * 0.1
    wrong: list[str] = []
    seen: dict[str, Any] = {}
    marks: list[Any] = []
    picker = random.Random(seed)
    shipped: dict[str, str | None] = {}

    def check_monotonic() -> None:
        mark = shop.watermark()
        if mark is not None:
            if marks and mark < marks[-1]:
                wrong.append(f"watermark moved back {marks[-1]} -> {mark}")
            marks.append(mark)
        for ext, row in shop.stored().items():
            if ext in seen and row.modified < seen[ext]:
                wrong.append(f"{ext}: stored modified went back {seen[ext]} -> {row.modified}")
            seen[ext] = row.modified

    def ship_some(share: float) -> None:
        for no in _shippable(shop):
            if picker.random() < share and (tracking := ship(hub, no, shop.now())):
                shipped[no] = tracking
        shipments.drain(
            hub.factory,
            lambda _row: shop.confirmer(attempts=1),
            owner="hub-1",
            now=shop.now,
        )

    for _ in range(rounds):
        span = market.rng.uniform(*interval)
        for _step in range(2):  # webhooks arrive between the runs
            market.advance(span / 2, shop.rate)
            if hooks:
                shop.hooks()
        if downloads:
            shop.run(tuning, status=status)
        check_monotonic()
        if shipping:
            ship_some(0.5)
    shop.rate, market.faults.change_between_pages = 0.0, 0.0
    if shipping:
        ship_some(1.0)
        for _ in range(30):
            market.advance(3600, 0.0)
            ship_some(0.0)
    for _ in range(settle):
        market.advance(150, 0.0)
        if hooks:
            shop.hooks()
        if downloads:
            shop.run(tuning, status=status)
        check_monotonic()
    if hooks:  # the last retries and duplicates (hours late, the original payloads)
        for _ in range(3):  # Shopify's retries end about 4 hours after the event
            market.advance(5400, 0.0)
            shop.hooks()
        check_monotonic()
    if shipping:
        wrong.extend(_shipping(shop, shipped))
    wrong.extend(_against_truth(shop))
    return wrong


def _against_truth(shop: ShopifyShop) -> list[str]:
    wrong = []
    market, hub = shop.market, shop.hub
    truth = market.truth_state()["trades"]
    stored = shop.stored()
    for tid, last in truth.items():
        row = stored.get(tid)
        final = market.trades[int(tid)][-1].trade
        if row is None:
            wrong.append(f"missed {tid} ({last['action']})")
        elif row.modified != at(last["modified"]):
            wrong.append(f"{tid}: stored modified {row.modified}, truth {at(last['modified'])}")
        elif row.channel_status != EXPECTED[last["status"]]:
            wrong.append(f"{tid}: stored status {row.channel_status}, truth {last['status']}")
        elif row.payload.get("seller_memo") != clean(final["seller_memo"], 10_000):
            wrong.append(f"{tid}: stored an older version of its second (tags differ)")
    extra = set(stored) - set(truth)
    if extra:
        wrong.append(f"stored orders the shop never had: {sorted(extra)[:3]}")
    with hub.factory() as s:
        made = s.execute(
            select(SalesOrder.order_no, func.count())
            .where(SalesOrder.account_id == hub.account_id, SalesOrder.order_no.in_(list(truth)))
            .group_by(SalesOrder.order_no)
        ).all()
    doubled = [no for no, n in made if n != 1]
    if doubled:
        wrong.append(f"orders made twice: {doubled[:3]}")
    linked = {r.order_id for r in stored.values() if r.order_id}
    if len(linked) != len(made):
        wrong.append(f"{len(made)} orders made, {len(linked)} linked to channel orders")
    for tid, row in stored.items():
        if truth.get(tid, {}).get("status") == "WAIT_SELLER_SEND_GOODS" and row.state not in (
            "imported",
            "held",
        ):
            wrong.append(f"{tid}: paid but {row.state}")
    return wrong
