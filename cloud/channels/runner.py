"""Running a shop's download for real: its adapter built from the shop's row, wall-clock time,
real waits. (Tests build the same adapter on the simulator's virtual clock instead.)"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import pool_force, shops, stock_policy, stock_push
from cloud.channels.cainiao.waybills import CainiaoWaybills
from cloud.channels.download import DEFAULT_TUNING, RunResult, Tuning, download
from cloud.channels.ports import (
    ChannelError,
    InventorySink,
    OrderSource,
    RefundSource,
    ShipmentConfirmer,
)
from cloud.channels.scheduler import Scheduler
from cloud.channels.shopify.client import AdminClient
from cloud.channels.shopify.orders import ShopifyOrders
from cloud.channels.shopify.refunds import ShopifyRefunds
from cloud.channels.shopify.shipments import ShopifyShipments
from cloud.channels.shopify.stock import ShopifyStock
from cloud.channels.shopify.subscriptions import ShopifySubscriptions, address_of
from cloud.channels.taobao.client import TopClient
from cloud.channels.taobao.orders import TaobaoOrders
from cloud.channels.taobao.refunds import TaobaoRefunds
from cloud.channels.taobao.shipments import TaobaoShipments
from cloud.channels.taobao.stock import TaobaoStock
from cloud.channels.taobao.tmc import TaobaoMessages
from cloud.db.engine import transaction
from cloud.db.models import Account, ChannelShop
from cloud.errors import N_, ConflictError, NotFoundError

T = TypeVar("T")


def owner_id() -> str:
    """Who holds a lease: this host and process (a lease outlives neither by much)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def account_id_of(session: Session, name: str) -> int:
    found = session.execute(select(Account.id).where(Account.name == name)).scalar_one_or_none()
    if found is None:
        raise NotFoundError(N_("no account %(name)s"), name=name)
    return int(found)


def top_client(
    shop: ChannelShop,
    http: httpx.Client,
    sleep: Callable[[float], object] = time.sleep,
    attempts: int = 8,
) -> TopClient:
    """The shop's TOP session on the wall clock: every Taobao-shaped part (orders, shipments,
    stock, refunds, messages, Cainiao's waybills) calls through one of these."""
    return TopClient(
        http,
        shop.api_url,
        shop.app_key,
        shop.app_secret,
        shop.session_key,
        sign_method=shop.sign_method,
        now=lambda: datetime.now(UTC),
        sleep=sleep,
        attempts=attempts,
    )


def source_for(
    shop: ChannelShop, http: httpx.Client, sleep: Callable[[float], object] = time.sleep
) -> OrderSource:
    def now() -> datetime:
        return datetime.now(UTC)

    if shop.platform == "shopify":  # the shop's kind chooses the adapter
        return ShopifyOrders(
            AdminClient(http, shop.api_url, shop.session_key, now=now, sleep=sleep)
        )
    return TaobaoOrders(top_client(shop, http, sleep))


def download_now(
    factory: sessionmaker[Session], account: str, code: str, tuning: Tuning = DEFAULT_TUNING
) -> RunResult:
    """A "download now" of one shop, in this process (the CLI's)."""
    with transaction(factory) as s:
        shop = shops.shop_by_code(s, account_id_of(s, account), code)
    with httpx.Client() as http:
        return download(
            factory,
            shop.id,
            source_for(shop, http),
            owner=owner_id(),
            now=lambda: datetime.now(UTC),
            tuning=tuning,
        )


def overview(factory: sessionmaker[Session], account: str) -> list[dict[str, Any]]:
    with factory() as s:
        return shops.shops_overview(s, account_id_of(s, account))


def confirmer_for(
    shop: ChannelShop, http: httpx.Client, sleep: Callable[[float], object] = time.sleep
) -> ShipmentConfirmer:
    def now() -> datetime:
        return datetime.now(UTC)

    if shop.platform == "shopify":
        admin = AdminClient(http, shop.api_url, shop.session_key, now=now, sleep=sleep, attempts=3)
        return ShopifyShipments(admin)

    # Three tries in the call; the outbox's backoff (cloud/channels/shipments.py) does the rest.
    return TaobaoShipments(top_client(shop, http, sleep, attempts=3))


def waybill_provider_for(
    shop: ChannelShop, http: httpx.Client, sleep: Callable[[float], object] = time.sleep
) -> CainiaoWaybills:
    """Cainiao through the shop's TOP session; three tries a call, the drawer's backoff
    (cloud/channels/waybills.py) does the rest."""
    return CainiaoWaybills(top_client(shop, http, sleep, attempts=3))


def _taobao(
    shop: ChannelShop,
    http: httpx.Client,
    sleep: Callable[[float], object],
    part: Callable[[TopClient], T],
) -> T | None:
    """A Taobao-only part (refunds, TMC messages) on the shop's TOP client; None elsewhere."""
    return part(top_client(shop, http, sleep)) if shop.platform == "taobao" else None


def refund_source_for(
    shop: ChannelShop, http: httpx.Client, sleep: Callable[[float], object] = time.sleep
) -> RefundSource | None:
    """The shop's refunds: Taobao's ``refunds.receive.get``, Shopify's orders' ``refunds``."""
    if shop.platform == "shopify":
        admin = AdminClient(
            http, shop.api_url, shop.session_key, now=lambda: datetime.now(UTC), sleep=sleep
        )
        return ShopifyRefunds(admin)
    return _taobao(shop, http, sleep, TaobaoRefunds)


def sink_for(
    shop: ChannelShop, http: httpx.Client, sleep: Callable[[float], object] = time.sleep
) -> InventorySink:
    if shop.platform == "shopify":  # the shop's kind chooses the adapter
        admin = AdminClient(
            http, shop.api_url, shop.session_key, now=lambda: datetime.now(UTC), sleep=sleep
        )
        return ShopifyStock(admin)
    # Two tries in the call; a row's backoff (cloud/channels/stock_push.py) does the rest.
    return TaobaoStock(top_client(shop, http, sleep, attempts=2))


def locations_of(shop: ChannelShop) -> dict[str, str]:
    """The shop's active locations, read from it now (a mapping is checked against them:
    cloud/channels/stock_locations.py). 409 with the marketplace's words when it cannot be
    read (down, the token refused): nothing is saved unchecked."""
    with httpx.Client() as http:
        sink = sink_for(shop, http)
        try:
            return cast(ShopifyStock, sink).locations()
        except ChannelError as err:
            raise ConflictError(
                N_("could not read shop %(shop)s's locations from Shopify: %(why)s"),
                shop=shop.code,
                why=str(err)[:300],
            ) from err


def register_webhooks(
    shop: ChannelShop, hub_url: str, http: httpx.Client | None = None
) -> dict[str, str]:
    """Subscribe the hub's topics on a Shopify shop (kept when subscribed already): called
    after a shop is added or re-authorised, with no transaction open (a slow Shopify holds
    no lock). ``{topic: "kept" | "made"}``; empty for a shop that is not Shopify's; 409 with
    Shopify's words when it cannot be done (the shop is saved all the same: run it again)."""
    if shop.platform != "shopify":
        return {}
    with contextlib.ExitStack() as stack:
        client = http or stack.enter_context(httpx.Client())
        admin = AdminClient(
            client,
            shop.api_url,
            shop.session_key,
            now=lambda: datetime.now(UTC),
            sleep=time.sleep,
            attempts=3,
        )
        try:
            return ShopifySubscriptions(admin).ensure(address_of(hub_url, shop.code))
        except ChannelError as err:
            raise ConflictError(
                N_("could not subscribe shop %(shop)s's webhooks on Shopify: %(why)s"),
                shop=shop.code,
                why=str(err)[:300],
            ) from err


def push_stock_now(factory: sessionmaker[Session], account: str, code: str) -> dict[str, int]:
    """``guanjia channels push-stock``: every SKU of the shop owes a push; push what is due
    in this process (rows another process holds are left to it)."""
    with transaction(factory) as s:
        marked = stock_policy.push_all(s, account_id_of(s, account), code)
    totals: dict[str, int] = {"marked": marked}
    with httpx.Client() as http:
        while True:
            done = stock_push.drain(
                factory,
                lambda shop: sink_for(shop, http),
                owner=owner_id(),
                now=lambda: datetime.now(UTC),
            )
            for k, v in vars(done).items():
                totals[k] = totals.get(k, 0) + v
            if sum(vars(done).values()) == 0:
                return totals


def hub_scheduler(
    factory: sessionmaker[Session],
    poll_s: float,
    publish: Callable[[dict[str, int]], None] | None = None,
    pool_wait: timedelta = pool_force.DEFAULT_WAIT,
    push_loop: bool = True,
) -> Scheduler:
    """The scheduler of a hub process, on wall-clock time and real HTTP; ``publish`` pushes
    the downlink changes a tick committed to the nodes (the hub's MQTT client); ``push_loop``:
    whether this process runs the stock push loop (``Settings.stock_push_loop``)."""
    http = httpx.Client()
    # Waits (call limits, backoff) end early when the hub stops: the run then fails fast
    # and is recorded, instead of holding the shutdown for minutes.
    sch: Scheduler = Scheduler(
        factory,
        owner=owner_id(),
        sources=lambda shop: source_for(shop, http, sch.pause),
        confirmers=lambda shop: confirmer_for(shop, http, sch.pause),
        waybill_providers=lambda shop: waybill_provider_for(shop, http, sch.pause),
        refund_sources=lambda shop: refund_source_for(shop, http, sch.pause),
        message_sources=lambda shop: _taobao(shop, http, sch.pause, TaobaoMessages),
        sinks=lambda shop: sink_for(shop, http, sch.pause),
        now=lambda: datetime.now(UTC),
        poll_s=poll_s,
        close=http.close,
        publish=publish,
        pool_wait=pool_wait,
        push_loop=push_loop,
    )
    return sch
