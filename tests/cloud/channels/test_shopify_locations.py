"""A Shopify shop with several locations (cloud/channels/stock_locations.py, docs/channels.md
"Several Shopify locations"): our warehouses mapped to the shop's locations (checked against
its ``locations.json``; bad input refused with nothing changed), stock pushed per location
from that warehouse's figure (safety stock and share applied), an unmapped warehouse not
pushed, buyers paying during pushes never overselling a location. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from cloud.channels import shipments, stock_locations, stock_policy
from cloud.channels.ports import Refused
from cloud.channels.shopify.shipments import ShopifyShipments
from cloud.db.channel_stock import ChannelShopLocation, ChannelStockLocation
from cloud.db.engine import transaction
from cloud.db.models import SalesOrder, Warehouse
from cloud.errors import InvalidError, NotFoundError
from cloud.orders import reversals, workflow
from cloud.orders.core import OrderPatch
from cloud.stock.ledger import receive
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from simulators.marketplace.shopify.inventory import set_locations
from simulators.marketplace.stock import StockFaults
from tests.cloud.channels.harness import Shop, _shippable, ship, stock_up
from tests.cloud.channels.shopify_harness import SITE
from tests.cloud.channels.stock_harness import SKUS, dirty, drain, nick, setup, sink

SZ, YW, SPARE = 71001, 71002, 71003


def at(shop: Shop, code: str, location: int) -> int:
    return shop.market.stock.level_at(nick(shop), code, location)


def figure_at(shop: Shop, code: str, warehouse: str) -> int:
    from cloud.channels.stock_push import our_figure_at

    with shop.hub.factory() as s:
        return our_figure_at(s, shop.hub.account_id, code, warehouse, datetime.now(UTC))


def located(engine: Engine, seed: int, stock: StockFaults | None = None) -> Shop:
    """A Shopify shop with three locations; our WH1 (received by the harness) and WH2."""
    shop, _ = setup(engine, seed, stock=stock or StockFaults(), shopify=True)
    with shop.market.lock:
        set_locations(
            shop.market,
            nick(shop),
            [
                {"id": SZ, "name": "Shenzhen"},
                {"id": YW, "name": "Yiwu"},
                {"id": SPARE, "name": "Pop-up"},
            ],
        )
    now = datetime.now(UTC)
    with transaction(shop.hub.factory) as s:
        create_warehouse(
            s, shop.hub.account_id, WarehouseIn(code="WH2", name="yiwu", kind="main"), "t", now
        )
        create_warehouse(
            s, shop.hub.account_id, WarehouseIn(code="WH3", name="spare", kind="main"), "t", now
        )
        for i, code in enumerate(SKUS):
            receive(s, shop.hub.account_id, "WH2", code, 3 + i, "t", now)
            receive(s, shop.hub.account_id, "WH3", code, 50, "t", now)
    return shop


def put(shop: Shop, warehouse: str, location: str | int) -> dict[str, Any]:
    def known(_shop: object) -> dict[str, str]:
        return sink(shop).locations()  # type: ignore[attr-defined,no-any-return]

    body = stock_locations.LocationIn(location_id=str(location))
    return stock_locations.map_location(
        shop.hub.factory,
        shop.hub.account_id,
        shop.code,
        warehouse,
        body,
        known,
        "lead",
        datetime.now(UTC),
    )


def mapped(shop: Shop) -> list[tuple[str, str, str]]:
    with shop.hub.factory() as s:
        rows = s.execute(
            select(ChannelShopLocation).order_by(ChannelShopLocation.warehouse)
        ).scalars()
        return [(r.warehouse, r.location_id, r.location_name) for r in rows]


def test_each_location_gets_its_warehouses_figure_and_unmapped_ones_nothing(
    engine: Engine,
) -> None:
    shop = located(engine, 61)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    assert mapped(shop) == [("WH1", str(SZ), "Shenzhen"), ("WH2", str(YW), "Yiwu")]
    drain(shop)
    for code in SKUS:
        assert at(shop, code, SZ) == figure_at(shop, code, "WH1"), code
        assert at(shop, code, YW) == figure_at(shop, code, "WH2"), code
        assert at(shop, code, SPARE) == 0, code  # WH3 is not mapped: never pushed
    assert not dirty(shop)
    writes = [e for e in shop.market.stock.log if e["action"] in ("add", "set")]
    assert {e["location"] for e in writes} == {SZ, YW}

    # Stock arriving at WH2 moves only Yiwu's level; the shop's safety stock and share apply
    # to each location's figure.
    before_sz = {c: at(shop, c, SZ) for c in SKUS}
    with transaction(shop.hub.factory) as s:
        receive(s, shop.hub.account_id, "WH2", "SKU-A", 10, "t", datetime.now(UTC))
    drain(shop)
    assert at(shop, "SKU-A", YW) == figure_at(shop, "SKU-A", "WH2")
    assert {c: at(shop, c, SZ) for c in SKUS} == before_sz
    with transaction(shop.hub.factory) as s:
        stock_policy.set_policy(
            s,
            shop.hub.account_id,
            shop.code,
            enabled=True,
            safety_stock=1,
            share_pct=50,
            now=datetime.now(UTC),
        )
    drain(shop)
    for code in SKUS:
        for location, wh in ((SZ, "WH1"), (YW, "WH2")):
            assert at(shop, code, location) == max(0, figure_at(shop, code, wh) - 1) * 50 // 100

    # The warehouse unmapped: no longer pushed (its level stays where it was).
    with transaction(shop.hub.factory) as s:
        stock_locations.remove_location(s, shop.hub.account_id, shop.code, "WH2")
    yiwu = {c: at(shop, c, YW) for c in SKUS}
    with transaction(shop.hub.factory) as s:
        receive(s, shop.hub.account_id, "WH2", "SKU-B", 7, "t", datetime.now(UTC))
    drain(shop)
    assert {c: at(shop, c, YW) for c in SKUS} == yiwu
    with shop.hub.factory() as s:
        kept = {loc for loc in s.execute(select(ChannelStockLocation.location_id)).scalars()}
    assert kept == {str(SZ)}


def test_buyers_paying_during_pushes_never_oversell_a_location(engine: Engine) -> None:
    """Buyers pay during the pushes (the world takes a sale from Shenzhen first, then Yiwu);
    the hub downloads nothing here, so every unit sold is one the push must not hand back:
    no location ever shows more than its warehouse's figure less what it sold."""
    shop = located(engine, 62, stock=StockFaults(buy_during_push=0.6))
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    for round_ in range(6):
        drain(shop)
        shop.market.advance(700)
        with transaction(shop.hub.factory) as s:  # stock arrives: every SKU pushed again
            for code in SKUS:
                wh = "WH1" if round_ % 2 else "WH2"
                receive(s, shop.hub.account_id, wh, code, 1, "t", datetime.now(UTC))
    drain(shop)
    log = shop.market.stock.log
    assert sum(e["action"] == "sale" for e in log) >= 5  # buyers did pay during pushes
    for code in SKUS:
        for location, wh in ((SZ, "WH1"), (YW, "WH2")):
            sold = -sum(
                e["delta"]
                for e in log
                if e["sku"] == code and e.get("location") == location and e["action"] == "sale"
            )
            assert at(shop, code, location) >= 0, (code, location)
            # What the location shows plus what it sold never exceeds the warehouse's figure.
            assert at(shop, code, location) + sold <= figure_at(shop, code, wh), (code, wh)


def test_bad_mappings_are_refused_and_change_nothing(engine: Engine) -> None:
    shop = located(engine, 63)
    put(shop, "WH1", SZ)
    before = mapped(shop)
    for warehouse, location, error, said in (
        ("WH2", 6_500_000_001, InvalidError, "is not one of shop"),  # not the shop's
        ("WH9", YW, InvalidError, "no warehouse 'WH9'"),
        ("WH2", SZ, InvalidError, "is warehouse WH1's already"),
    ):
        with pytest.raises(error, match=said) as err:
            put(shop, warehouse, location)
        assert err.value.status == 422
        assert mapped(shop) == before
    with pytest.raises(ValidationError):
        stock_locations.LocationIn(location_id="71001; DROP")
    with (
        pytest.raises(NotFoundError),
        transaction(shop.hub.factory) as s,
    ):
        stock_locations.remove_location(s, shop.hub.account_id, shop.code, "WH2")
    assert mapped(shop) == before


def test_a_fulfillment_leaves_from_the_location_of_the_warehouse_it_shipped_from(
    engine: Engine,
) -> None:
    """``fulfillments.json`` takes no location: a fulfillment leaves from its fulfillment
    order's ``assigned_location_id``. An order Shopify assigned to Shenzhen that our Yiwu
    warehouse ships is moved to Yiwu first (``move.json``), then fulfilled; a retry after a
    lost answer is "already" with no second move; with no location the order stays where
    Shopify put it."""
    shop = located(engine, 64)
    market = shop.market
    with market.lock:
        seller = next(s for s in market.shops.values() if s.seller_nick == nick(shop))
        tids = [market.place_for(seller, "SKU-A") for _ in range(2)]
        for tid in tids:
            market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    confirmer = ShopifyShipments(shop.admin())  # type: ignore[attr-defined]
    fos = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tids[0]}/fulfillment_orders.json",
        headers={"X-Shopify-Access-Token": f"shpat-{shop.code}"},
    ).json()["fulfillment_orders"]
    assert fos[0]["assigned_location_id"] == SZ  # the shop's first location
    assert confirmer.confirm(str(tids[0]), "ZT-YW-1", "ZTO", location=str(YW)) == "sent"
    assert market.confirmations[-1]["location_id"] == YW
    assert confirmer.confirm(str(tids[0]), "ZT-YW-1", "ZTO", location=str(YW)) == "already"
    assert sum(c["tid"] == tids[0] for c in market.confirmations) == 1
    # At the location Shopify chose already: no move; with none given, the same.
    assert confirmer.confirm(str(tids[1]), "ZT-SZ-1", "ZTO") == "sent"
    assert market.confirmations[-1]["location_id"] == SZ
    # A location the shop does not have: refused, nothing shipped.
    with market.lock:
        third = market.place_for(seller, "SKU-B")
        market.change(third, "pay", status="WAIT_SELLER_SEND_GOODS")
    with pytest.raises(Refused):
        confirmer.confirm(str(third), "ZT-X", "ZTO", location="6500000001")
    assert all(c["tid"] != third for c in market.confirmations)


def test_the_shipment_outbox_confirms_from_the_location_of_the_orders_warehouse(
    engine: Engine,
) -> None:
    """End to end: an order Shopify sold from Shenzhen is reserved at WH2, the warehouse
    mapped to Shenzhen (sold_at.py: Shopify's assignment wins over our routing); a lead
    moves it to WH1, mapped to Yiwu (reject, change warehouse, audit again): the outbox's
    confirmation moves its fulfillment order to Yiwu and fulfils it there, once."""
    shop = located(engine, 65)
    stock_up(shop.hub)  # a courier for everyone: the orders pass the audit
    market = shop.market
    put(shop, "WH1", YW)
    put(shop, "WH2", SZ)
    with market.lock:
        seller = next(s for s in market.shops.values() if s.seller_nick == nick(shop))
        tids = [market.place_for(seller, "SKU-A") for _ in range(8)]
        for tid in tids:
            market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    market.advance(600, 0.0)
    shop.run()
    shippable = _shippable(shop)
    assert shippable
    with shop.hub.factory() as s:
        at = {
            no: wh
            for no, wh in s.execute(
                select(SalesOrder.order_no, Warehouse.code)
                .join(Warehouse, Warehouse.id == SalesOrder.warehouse_id)
                .where(SalesOrder.order_no.in_(shippable))
            ).all()
        }
    assert set(at.values()) == {"WH2"}, at  # where Shopify sold them, not our main WH1
    # The first order the harness's courier rules reach (random addresses; others are held).
    tid, tracking = 0, None
    for no in shippable:
        with shop.hub.factory() as s:
            o = s.execute(select(SalesOrder).where(SalesOrder.order_no == no)).scalar_one()
            if o.status != "audited" or o.on_hold:
                continue
        with transaction(shop.hub.factory) as s:
            acct, now = shop.hub.account_id, shop.now()
            reversals.reject(s, acct, no, "ship from Yiwu", "lead", now)
            workflow.patch(s, acct, no, OrderPatch(warehouse="WH1"), "lead", now)
            workflow.save(s, acct, no, "lead", now)
            workflow.confirm(s, acct, no, "lead", now)
            workflow.complete_audit(s, acct, no, "lead", now)
        tracking = ship(shop.hub, no, shop.now())
        if tracking:
            tid = int(no)
            break
    assert tracking, shippable
    with shop.hub.factory() as s:
        order_id = s.execute(
            select(SalesOrder.id).where(SalesOrder.order_no == str(tid))
        ).scalar_one()
        assert stock_locations.location_of_order(s, shop.shop_id, order_id) == str(YW)
    for _ in range(2):
        shipments.drain(
            shop.hub.factory,
            lambda _shop: shop.confirmer(),  # type: ignore[attr-defined]
            owner="hub-1",
            now=shop.now,
        )
    mine = [c for c in market.confirmations if c["tid"] == tid]
    assert [(c["out_sid"], c["location_id"]) for c in mine] == [(tracking, YW)]
