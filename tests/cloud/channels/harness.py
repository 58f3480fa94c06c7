"""The hub's channel code against the marketplace simulator, in-process.

The simulator is mounted with ``httpx.WSGITransport``: the client's HTTP requests (query
string, form body, headers) reach the simulator's WSGI application as they would over a
socket, without the socket. Time is the simulator's virtual clock on both sides; the client's
waits let that time pass, with buyers acting meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.accounts import create_account
from cloud.catalogue.skus import SkuIn, upsert_sku
from cloud.channels import shops
from cloud.channels.download import STREAM, Tuning, download
from cloud.channels.scheduler import Scheduler
from cloud.channels.taobao.client import TopClient
from cloud.channels.taobao.orders import TaobaoOrders
from cloud.channels.taobao.shipments import TaobaoShipments
from cloud.db.engine import session_factory, transaction
from cloud.db.models import ChannelOrder, SalesOrder
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Faults, Market

KEY, SECRET = "12345678", "sim-secret"
DEFAULT = Tuning()


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass
class Hub:
    factory: sessionmaker[Session]
    account_id: int


def make_hub(engine: Engine, name: str = "seller", *, warehouse: bool = True) -> Hub:
    factory = session_factory(engine)
    now = datetime.now(UTC)
    with transaction(factory) as s:
        account = create_account(s, name, now)
        s.flush()
        if warehouse:
            main = WarehouseIn(code="WH1", name="main", kind="main")
            create_warehouse(s, account.id, main, "t", now)
        for code in ("SKU-A", "SKU-B", "SKU-C", "SKU-D"):
            item = SkuIn(sku_code=code, name=f"item {code}", barcodes=[f"BC-{code}"])
            upsert_sku(s, item, now, account.id)
        account_id = account.id
    return Hub(factory, account_id)


@dataclass
class Shop:
    hub: Hub
    market: Market
    shop_id: int
    code: str
    rate: float = 0.0
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(transport=httpx.WSGITransport(app=MarketplaceApp(self.market)))

    def now(self) -> datetime:
        return at(self.market.now)

    def source(
        self, *, back_paging: bool = True, page_size: int = 5, **client: Any
    ) -> TaobaoOrders:
        args: dict[str, Any] = {"sign_method": "hmac-sha256", "session": f"s-{self.code}"}
        args.update(client)
        top = TopClient(
            self.http,
            "http://sim/router/rest",
            KEY,
            args.pop("secret", SECRET),
            args.pop("session"),
            now=args.pop("now", self.now),
            sleep=lambda s: self.market.advance(s, self.rate),
            **args,
        )
        return TaobaoOrders(top, page_size=page_size, back_paging=back_paging)

    def confirmer(self, attempts: int = 3) -> TaobaoShipments:
        top = TopClient(
            self.http,
            "http://sim/router/rest",
            KEY,
            SECRET,
            f"s-{self.code}",
            sign_method="hmac-sha256",
            now=self.now,
            sleep=lambda s: self.market.advance(s, self.rate),
            attempts=attempts,
        )
        return TaobaoShipments(top)

    def run(self, tuning: Tuning = DEFAULT, owner: str = "hub-1", **source: Any) -> Any:
        return download(
            self.hub.factory,
            self.shop_id,
            self.source(**source),
            owner=owner,
            now=self.now,
            tuning=tuning,
        )

    def stored(self) -> dict[str, ChannelOrder]:
        with self.hub.factory() as s:
            rows = s.execute(select(ChannelOrder).where(ChannelOrder.shop_id == self.shop_id))
            return {r.external_id: r for r in rows.scalars()}

    def watermark(self) -> datetime | None:
        with self.hub.factory() as s:
            return shops.watermark(s, self.shop_id, STREAM)


def make_shop(hub: Hub, market: Market, code: str) -> Shop:
    market.add_shop(KEY, SECRET, f"s-{code}", f"nick-{code}")
    with transaction(hub.factory) as s:
        shop = shops.add_shop(
            s,
            hub.account_id,
            shops.ShopIn(
                code=code,
                api_url="http://sim/router/rest",
                app_key=KEY,
                app_secret=SECRET,
                session_key=f"s-{code}",
                start_from=at(market.now),
            ),
            at(market.now),
        )
        shop_id = shop.id
    return Shop(hub, market, shop_id, code)


def simulate(
    hub: Hub,
    seed: int,
    *,
    faults: Faults | None = None,
    tuning: Tuning = DEFAULT,
    back_paging: bool = True,
    rounds: int = 8,
    interval: tuple[float, float] = (30.0, 300.0),
) -> list[str]:
    """Buyers and faults from ``seed``, download runs in between; the invariants' violations."""
    market = Market(seed=seed, faults=faults or Faults.seeded(seed))
    shop = make_shop(hub, market, f"shop{seed}")
    shop.rate = 0.03 + market.rng.random() * 0.1
    wrong: list[str] = []
    marks: list[datetime] = []
    seen: dict[str, datetime] = {}

    def one_run() -> None:
        shop.run(tuning, back_paging=back_paging)
        mark = shop.watermark()
        if mark is not None:
            if marks and mark < marks[-1]:
                wrong.append(f"watermark moved back {marks[-1]} -> {mark}")
            marks.append(mark)
        for ext, row in shop.stored().items():
            if ext in seen and row.modified < seen[ext]:
                wrong.append(f"{ext}: stored modified went back {seen[ext]} -> {row.modified}")
            seen[ext] = row.modified

    for _ in range(rounds):
        market.advance(market.rng.uniform(*interval), shop.rate)
        one_run()
    # Buyers stop (those that change trades between page fetches too); the shop is then
    # downloaded until everything has settled.
    shop.rate, market.faults.change_between_pages = 0.0, 0.0
    for _ in range(4):
        market.advance(150, 0.0)
        one_run()

    truth = market.truth_state()["trades"]
    stored = shop.stored()
    for tid, last in truth.items():
        row = stored.get(tid)
        if row is None:
            wrong.append(f"missed {tid} ({last['action']}, {last['type']})")
        elif row.modified != at(last["modified"]):
            wrong.append(f"{tid}: stored modified {row.modified}, truth {at(last['modified'])}")
        elif row.channel_status != last["status"]:
            wrong.append(f"{tid}: stored status {row.channel_status}, truth {last['status']}")
    extra = set(stored) - set(truth)
    if extra:
        wrong.append(f"stored trades the marketplace never had: {sorted(extra)[:3]}")
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


def scheduler(hub: Hub, shops_: list[Shop], owner: str, **kw: Any) -> Scheduler:
    """A hub process's scheduler whose shops are these simulated ones (virtual time)."""
    by_id = {s.shop_id: s for s in shops_}
    clock = shops_[0]
    return Scheduler(
        hub.factory,
        owner=owner,
        sources=lambda row: by_id[row.id].source(),
        confirmers=lambda row: by_id[row.id].confirmer(),
        now=clock.now,
        **kw,
    )
