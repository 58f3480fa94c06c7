"""The hub's channel code against the marketplace simulator, in-process.

The simulator is mounted with ``httpx.WSGITransport``: the client's HTTP requests (query
string, form body, headers) reach the simulator's WSGI application as they would over a
socket, without the socket. Time is the simulator's virtual clock on both sides; the client's
waits let that time pass, with buyers acting meanwhile.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.accounts import create_account
from cloud.catalogue.skus import SkuIn, upsert_sku
from cloud.channels import shipments, shops
from cloud.channels.download import STREAM, Tuning, download
from cloud.channels.scheduler import Scheduler
from cloud.channels.taobao.client import TopClient
from cloud.channels.taobao.orders import TaobaoOrders
from cloud.channels.taobao.shipments import TaobaoShipments
from cloud.db.engine import session_factory, transaction
from cloud.db.models import ChannelOrder, ChannelShipment, ChannelShop, SalesOrder
from cloud.orders import audit_rules, workflow
from cloud.orders.audit_rules import CarrierIn, RuleIn
from cloud.orders.release import release
from cloud.stock.ledger import receive
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
        self,
        *,
        back_paging: bool = True,
        page_size: int = 5,
        list_fields: bool = True,
        **client: Any,
    ) -> TaobaoOrders:
        args: dict[str, Any] = {"sign_method": "hmac-sha256", "session": self.session_key()}
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
        return TaobaoOrders(
            top, page_size=page_size, back_paging=back_paging, list_fields=list_fields
        )

    def session_key(self) -> str:
        """The key the hub holds for the shop now (a re-authorisation changes it)."""
        with self.hub.factory() as s:
            key = s.execute(
                select(ChannelShop.session_key).where(ChannelShop.id == self.shop_id)
            ).scalar_one()
        return str(key)

    def reauthorise(self) -> str:
        """The seller authorises the app again (a new key in the simulator) and a person
        saves it in the hub (shops.reauthorise); the new key."""
        old = self.session_key()
        new = f"s-{self.code}-{self.market.calls}"
        self.market.reauthorise(old, new)
        with transaction(self.hub.factory) as s:
            row = s.get(ChannelShop, self.shop_id)
            assert row is not None
            shops.reauthorise(s, row, new, self.now())
        return new

    def confirmer(self, attempts: int = 3, session: str | None = None) -> TaobaoShipments:
        top = TopClient(
            self.http,
            "http://sim/router/rest",
            KEY,
            SECRET,
            session or self.session_key(),
            sign_method="hmac-sha256",
            now=self.now,
            sleep=lambda s: self.market.advance(s, self.rate),
            attempts=attempts,
        )
        return TaobaoShipments(top)

    def run(
        self, tuning: Tuning = DEFAULT, owner: str = "hub-1", rescan: bool = False, **source: Any
    ) -> Any:
        return download(
            self.hub.factory,
            self.shop_id,
            self.source(**source),
            owner=owner,
            now=self.now,
            tuning=tuning,
            rescan=rescan,
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
    shipping: bool = False,
    same_tracking_is_done: bool = True,
    rescan: bool = False,
    settle: int = 4,
    list_fields: bool = True,
) -> list[str]:
    """Buyers and faults from ``seed``, download runs in between; the invariants' violations.

    ``shipping``: after each run some imported orders ship in Guanjia and the outbox is
    drained (one call per try: retries go through the outbox's backoff); each shipment must
    reach the marketplace exactly once, with its parcel number (see :func:`_shipping`)."""
    market = Market(seed=seed, faults=faults or Faults.seeded(seed))
    shop = make_shop(hub, market, f"shop{seed}")
    shop.rate = 0.03 + market.rng.random() * 0.1
    wrong: list[str] = []
    marks: list[datetime] = []
    seen: dict[str, datetime] = {}

    rescanned = [market.now]

    def one_run() -> None:
        for _ in range(3):
            done = shop.run(tuning, back_paging=back_paging, list_fields=list_fields)
            if done.outcome != "needs_reauth":
                break
            shop.reauthorise()  # the key expired (Faults.session_expiry): a person renews it
        if rescan and market.now - rescanned[0] >= tuning.rescan_every.total_seconds():
            rescanned[0] = market.now
            again = shop.run(tuning, back_paging=back_paging, rescan=True, list_fields=list_fields)
            if again.outcome == "needs_reauth":
                shop.reauthorise()
        mark = shop.watermark()
        if mark is not None:
            if marks and mark < marks[-1]:
                wrong.append(f"watermark moved back {marks[-1]} -> {mark}")
            marks.append(mark)
        for ext, row in shop.stored().items():
            if ext in seen and row.modified < seen[ext]:
                wrong.append(f"{ext}: stored modified went back {seen[ext]} -> {row.modified}")
            seen[ext] = row.modified

    picker = random.Random(seed)
    shipped: dict[str, str | None] = {}

    def ship_some(share: float) -> None:
        for no in _shippable(shop):
            if picker.random() < share and (tracking := ship(hub, no, shop.now())):
                shipped[no] = tracking
        shipments.drain(
            hub.factory,
            lambda _row: shop.confirmer(attempts=1),
            owner="hub-1",
            now=shop.now,
            same_tracking_is_done=same_tracking_is_done,
        )

    for _ in range(rounds):
        market.advance(market.rng.uniform(*interval), shop.rate)
        one_run()
        if shipping:
            ship_some(0.5)
    # Buyers stop (those that change trades between page fetches too); the shop is then
    # downloaded until everything has settled.
    shop.rate, market.faults.change_between_pages = 0.0, 0.0
    if shipping:
        ship_some(1.0)
        for _ in range(30):  # the outbox's backoff reaches an hour
            if not _pending(shop):
                break
            market.advance(3600, 0.0)
            ship_some(0.0)
    for _ in range(settle):
        market.advance(150, 0.0)
        one_run()
    if shipping:
        wrong.extend(_shipping(shop, shipped))

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


def stock_up(hub: Hub, qty: int = 100_000) -> None:
    """Enough of every SKU in WH1, and a courier for everyone (ZTO), so that imported orders
    reserve and pass the audit."""
    now = datetime.now(UTC)
    with transaction(hub.factory) as s:
        for code in ("SKU-A", "SKU-B", "SKU-C", "SKU-D"):
            receive(s, hub.account_id, "WH1", code, qty, "t", now)
        audit_rules.put_carrier(s, hub.account_id, "ZTO", CarrierIn(name="中通"), "t", now)
        rule = RuleIn(kind="courier", name="default ZTO", priority=1000, action={"carrier": "ZTO"})
        audit_rules.put_rule(s, hub.account_id, "default-zto", rule, "t", now)


def ship(hub: Hub, order_no: str, now: datetime) -> str | None:
    """Release an audited order and ship it, as the warehouse would; its parcel number."""
    with transaction(hub.factory) as s:
        o = s.execute(
            select(SalesOrder).where(
                SalesOrder.account_id == hub.account_id, SalesOrder.order_no == order_no
            )
        ).scalar_one()
        if o.on_hold and o.status != "saved":
            return None
        if o.status == "saved":  # a buyer's remark: a person reads it, confirms and audits
            if o.on_hold:
                workflow.set_hold(s, hub.account_id, order_no, False, None, "t", now)
            workflow.save(s, hub.account_id, order_no, "t", now)
            if o.on_hold:
                return None  # held for more than the remark: not shipped here
            workflow.confirm(s, hub.account_id, order_no, "t", now)
            workflow.complete_audit(s, hub.account_id, order_no, "t", now)
        if o.status == "audited":
            release(s, hub.account_id, order_no, "t", now)
        workflow.ship(s, hub.account_id, order_no, "t", now)
        return o.tracking_number


def _shippable(shop: Shop) -> list[str]:
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(SalesOrder.order_no)
                .join(ChannelOrder, ChannelOrder.order_id == SalesOrder.id)
                .where(
                    ChannelOrder.shop_id == shop.shop_id,
                    SalesOrder.status.in_(("saved", "audited")),
                )
                .order_by(SalesOrder.order_no)
            ).scalars()
        )


def _pending(shop: Shop) -> int:
    with shop.hub.factory() as s:
        return int(
            s.execute(
                select(func.count()).where(
                    ChannelShipment.shop_id == shop.shop_id, ChannelShipment.state == "pending"
                )
            ).scalar_one()
        )


def _shipping(shop: Shop, shipped: dict[str, str | None]) -> list[str]:
    """Each order shipped in Guanjia is confirmed on the marketplace exactly once, with its
    parcel number (the truth log counts the shipments the marketplace accepted), its outbox
    row is done, and nothing else was confirmed."""
    wrong = []
    confirmed = Counter(str(c["tid"]) for c in shop.market.confirmations)
    numbers = {str(c["tid"]): c["out_sid"] for c in shop.market.confirmations}
    for no, tracking in shipped.items():
        if confirmed[no] != 1:
            wrong.append(f"{no}: confirmed {confirmed[no]} times")
        elif numbers[no] != tracking:
            wrong.append(f"{no}: confirmed with {numbers[no]}, shipped with {tracking}")
    extra = set(confirmed) - set(shipped)
    if extra:
        wrong.append(f"confirmed but never shipped: {sorted(extra)[:3]}")
    with shop.hub.factory() as s:
        rows = s.execute(
            select(ChannelShipment).where(ChannelShipment.shop_id == shop.shop_id)
        ).scalars()
        for row in rows:
            if row.state != "done":
                wrong.append(f"{row.external_id}: confirmation {row.state}: {row.error}")
    return wrong


def sqlite_engine_at(template: Path, tmp_path: Path) -> Engine:
    """A SQLite database copied from the migrated template (for tests whose SQL is the same
    on both databases: CI time is short, and each PostgreSQL database costs seconds)."""
    from cloud.db.engine import make_engine

    path = tmp_path / "cloud.db"
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")
