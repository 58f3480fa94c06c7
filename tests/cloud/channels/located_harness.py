"""The seeded stock-push world of stock_harness.py with a Shopify shop of 2-3 locations,
each mapped to one of our warehouses (docs/channels.md "Several Shopify locations"): buyers
pay while the hub downloads and pushes, sales are taken from the locations in the shop's
priority order, goods arrive at random warehouses. Violations per location, from the
simulator's truth log and our database."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import select

from cloud.channels import sold_at, stock_figures, stock_locations
from cloud.db.channel_stock import ChannelStockPolicy
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, SalesOrder, SalesOrderLine, Warehouse
from cloud.stock.ledger import receive
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from simulators.marketplace.market import Faults
from simulators.marketplace.shopify.inventory import set_locations
from simulators.marketplace.stock import StockFaults
from tests.cloud.channels.harness import Shop
from tests.cloud.channels.stock_harness import SKUS, dirty, drain, nick, setup, sink

LOCATIONS = (71001, 71002, 71003)
WAREHOUSES = ("WH1", "WH2", "WH3")
#: The checks' own reference to the figure (an ablation replaces the push's).
FIGURE_AT = stock_figures.our_figure_at


def _map(shop: Shop, warehouse: str, location: int) -> None:
    stock_locations.map_location(
        shop.hub.factory,
        shop.hub.account_id,
        shop.code,
        warehouse,
        stock_locations.LocationIn(location_id=str(location)),
        lambda _shop: sink(shop).locations(),  # type: ignore[attr-defined]
        "t",
        datetime.now(UTC),
    )


def simulate_located(
    engine: object, seed: int, *, rounds: int = 4, stats: dict[str, int] | None = None
) -> list[str]:
    """One seeded world. The shop has 2 or 3 locations (priority order drawn), each mapped
    to a distinct warehouse (drawn; with 3, one location may stay unmapped). Faults: full
    call buckets (429, refused before anything is done) and buyers paying during pushes,
    so that after quiet each location's level is exact. Violations:

    - a location sold more than its warehouse ever received (oversold per location);
    - after quiet, a mapped location's level is not its warehouse's figure (after safety
      stock and share) + D at that warehouse − the units that location sold (floored at 0):
      the F + D − P rule per location, from the truth log's sales at that location; where
      every unit the location sold is held at its warehouse, that is the warehouse's figure;
    - an unmapped location written at all; a row still dirty after quiet;
    - an order (its split halves included) whose units are not at the warehouses mapped to
      the locations Shopify sold them from (the truth log's sales of the order), or one sold
      from an unmapped location that is not held for it (sold_at.py).

    ``stats``, when given, counts the orders imported (``orders``) and split (``split``).
    """
    r = random.Random(f"located-{seed}")
    n = r.choice([2, 3])
    ids = list(LOCATIONS[:n])
    r.shuffle(ids)  # the shop's priority order: sales are taken from ids[0] first
    wh = list(WAREHOUSES)
    r.shuffle(wh)
    places = {ids[i]: wh[i] for i in range(n)}
    if n == 3 and r.random() < 0.4:
        del places[ids[r.randrange(3)]]  # a location no warehouse maps to
    policy = (0, 100) if r.random() < 0.5 else (r.randint(0, 2), r.choice([50, 80, 100]))
    faults = Faults(rate_limit=r.choice([0.0, 0.05, 0.1]))
    busy = StockFaults(buy_during_push=r.uniform(0.2, 0.6))
    shop, first = setup(engine, 30_000 + seed, faults, busy, policy=policy, shopify=True)  # type: ignore[arg-type]
    market = shop.market
    with market.lock:
        set_locations(market, nick(shop), [{"id": i, "name": f"L{i}"} for i in ids])
    received = {("WH1", c): q for c, q in first.items()}
    now = datetime.now(UTC)
    with transaction(shop.hub.factory) as s:
        for code in ("WH2", "WH3"):
            create_warehouse(s, shop.hub.account_id, WarehouseIn(code=code, name=code), "t", now)
            for sku in SKUS:
                q = r.randint(0, 8)
                receive(s, shop.hub.account_id, code, sku, q, "t", now) if q else None
                received[(code, sku)] = q
    for location, warehouse in sorted(places.items()):
        _map(shop, warehouse, location)
    shop.rate = 0.05 + r.random() * 0.2
    drain(shop)
    for _ in range(rounds):
        market.advance(r.uniform(10, 120), shop.rate)
        roll = r.random()
        if roll < 0.4:
            code, more, at = r.choice(SKUS), r.randint(1, 4), r.choice(WAREHOUSES)
            with transaction(shop.hub.factory) as s:
                receive(s, shop.hub.account_id, at, code, more, "t", datetime.now(UTC))
            received[(at, code)] = received.get((at, code), 0) + more
        if roll > 0.2:
            shop.run(page_size=100)
        drain(shop)
    shop.rate = 0.0
    market.stock.faults.buy_during_push = 0.0
    for _ in range(2):
        market.advance(300, 0.0)
        shop.run(page_size=100)
        for _ in range(20):
            drain(shop)
            if not dirty(shop):
                break
            market.advance(600, 0.0)
    return violations(shop, places, ids, received) + sold_where(shop, places, stats)


def violations(
    shop: Shop, places: dict[int, str], ids: list[int], received: dict[tuple[str, str], int]
) -> list[str]:
    market = shop.market
    wrong: list[str] = []
    sold: dict[tuple[int, str], int] = {}
    for change in market.stock.log:
        if change["action"] == "sale" and "location" in change:
            key = (change["location"], change["sku"])
            sold[key] = sold.get(key, 0) - change["delta"]
        elif change["action"] in ("add", "set") and change.get("location") not in places:
            wrong.append(f"unmapped location {change.get('location')} written: {change}")
    with shop.hub.factory() as s:
        policy = s.get(ChannelStockPolicy, shop.shop_id)
        assert policy is not None
        s.expunge(policy)
    for location in ids:
        warehouse = places.get(location)
        for code in SKUS:
            level = market.stock.level_at(nick(shop), code, location)
            n_sold = sold.get((location, code), 0)
            if warehouse is None:
                continue
            if n_sold > received.get((warehouse, code), 0):
                wrong.append(
                    f"oversold {code} at {location} ({warehouse}): sold {n_sold}, "
                    f"had {received.get((warehouse, code), 0)}"
                )
                continue
            with shop.hub.factory() as s:
                figure = FIGURE_AT(s, shop.hub.account_id, code, warehouse, datetime.now(UTC))
            with shop.hub.factory() as s:
                held = stock_locations.held_at(s, shop.shop_id, warehouse, code)
            want = max(0, stock_figures.shown(figure, policy) + held - n_sold)
            if level != want:
                wrong.append(
                    f"{code} at {location} ({warehouse}): shows {level}, want {want} "
                    f"(figure {figure}, held {held}, sold there {n_sold})"
                )
    if dirty(shop):
        wrong.append(f"{dirty(shop)} rows still dirty after quiet")
    return wrong


def sold_where(
    shop: Shop, places: dict[int, str], stats: dict[str, int] | None = None
) -> list[str]:
    """Each downloaded order is reserved where Shopify sold it: per order, the units of the
    truth log's sales at each location are the units of its orders (the order and its split
    halves) at the warehouse mapped to that location; sold from an unmapped location, the
    trade is held for it."""
    sales: dict[str, dict[tuple[str, str], int]] = {}
    for e in shop.market.stock.log:
        if e["action"] == "sale" and "location" in e and "tid" in e:
            loc = int(e["location"])
            key = (places.get(loc, f"unmapped {loc}"), e["sku"])
            got = sales.setdefault(str(e["tid"]), {})
            got[key] = got.get(key, 0) - int(e["delta"])
    wrong: list[str] = []
    with shop.hub.factory() as s:
        rows = s.execute(select(ChannelOrder).where(ChannelOrder.shop_id == shop.shop_id)).scalars()
        for row in rows:
            want = sales.get(row.external_id)
            if want is None or row.channel_status.startswith("cancelled"):
                continue  # not sold from a location (bought before the stock was limited)
            if any(wh.startswith("unmapped") for wh, _ in want):
                if row.order_id is not None or not (row.hold_reason or "").startswith(
                    sold_at.UNMAPPED_LOCATION
                ):
                    wrong.append(
                        f"order {row.external_id} sold at an unmapped location: {row.state}"
                    )
                continue
            if row.order_id is None:
                continue  # held for another reason (an address, a SKU)
            parent = s.get(SalesOrder, row.order_id)
            assert parent is not None
            orders = [
                parent,
                *s.execute(
                    select(SalesOrder).where(SalesOrder.split_from == parent.order_no)
                ).scalars(),
            ]
            have: dict[tuple[str, str], int] = {}
            for o in orders:
                wh = s.get(Warehouse, o.warehouse_id)
                assert wh is not None
                for ln in s.execute(
                    select(SalesOrderLine).where(
                        SalesOrderLine.order_id == o.id, SalesOrderLine.gift.is_(False)
                    )
                ).scalars():
                    have[(wh.code, ln.sku_code)] = have.get((wh.code, ln.sku_code), 0) + ln.qty
            if have != want:
                wrong.append(
                    f"order {row.external_id} reserved at {sorted(have.items())}, "
                    f"sold at {sorted(want.items())}"
                )
            if stats is not None:
                stats["orders"] = stats.get("orders", 0) + 1
                stats["split"] = stats.get("split", 0) + (len(orders) > 1)
    return wrong
