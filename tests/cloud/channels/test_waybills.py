"""E-waybills (电子面单) drawn at release from the Cainiao-shaped simulator: drawn once through
lost answers and retried releases, given back when the order leaves unshipped, refusals hold
the order, and the pack station's label carries the number and the route. SQLite and
PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import Engine, select

from cloud.channels import waybills
from cloud.channels.cainiao.waybills import CainiaoWaybills
from cloud.channels.taobao.client import TopClient
from cloud.db.engine import transaction
from cloud.db.models import SalesOrder
from cloud.db.waybills import Waybill
from cloud.errors import ConflictError
from cloud.orders import core, label, reversals, waybill_outbox, workflow
from cloud.orders import views as order_views
from cloud.orders.release import release
from edge.stations.pack import (
    ItemScanned,
    OrderView,
    PackConfig,
    PackStation,
    Print,
    PrinterStatus,
    WaybillScanned,
    WeightStable,
)
from protocol.devices.zpl import build_label
from protocol.messages import CatalogueUpsert
from simulators.marketplace.cainiao import book
from simulators.marketplace.market import Faults, Market
from tests.cloud.channels.harness import KEY, SECRET, Shop, make_hub, make_shop, stock_up
from tests.cloud.channels.test_download import paid

SENDER = waybills.SenderIn(
    name="管家仓",
    phone="057188880000",
    province="浙江省",
    city="杭州市",
    address="余杭区仓前街道 1 号",
)


def provider(shop: Shop, attempts: int = 3) -> CainiaoWaybills:
    top = TopClient(
        shop.http,
        "http://sim/router/rest",
        KEY,
        SECRET,
        f"s-{shop.code}",
        sign_method="hmac-sha256",
        now=shop.now,
        sleep=lambda s: shop.market.advance(s, 0.0),
        attempts=attempts,
    )
    return CainiaoWaybills(top)


def set_up(engine: Engine, seed: int, cp_code: str = "ZTO", name: str = "seller") -> Shop:
    hub = make_hub(engine, name)
    stock_up(hub)
    shop = make_shop(hub, Market(seed=seed), "tb1")
    body = waybills.WaybillSourceIn(shop="tb1", cp_code=cp_code, sender=SENDER)
    with transaction(hub.factory) as s:
        waybills.put_source(s, hub.account_id, "ZTO", body, shop.now())
    return shop


def imported(shop: Shop, count: int = 1) -> list[str]:
    """``count`` paid trades downloaded and audited (a buyer's remark read by a person)."""
    tids = paid(shop, count)
    assert shop.run().outcome == "ok"
    now, account = shop.now(), shop.hub.account_id
    for tid in tids:
        with transaction(shop.hub.factory) as s:
            o = core.get(s, account, tid)
            if o.status == "saved":
                if o.on_hold:
                    workflow.set_hold(s, account, tid, False, None, "t", now)
                workflow.save(s, account, tid, "t", now)
                workflow.confirm(s, account, tid, "t", now)
                workflow.complete_audit(s, account, tid, "t", now)
        assert order(shop, tid).status == "audited", tid
    return tids


def do_release(shop: Shop, order_no: str) -> None:
    with transaction(shop.hub.factory) as s:
        release(s, shop.hub.account_id, order_no, "t", shop.now())


def drain(shop: Shop, attempts: int = 3, keyed: bool = True) -> waybills.Drawn:
    return waybills.drain(
        shop.hub.factory,
        lambda _shop: provider(shop, attempts),
        owner="hub-1",
        now=shop.now,
        keyed=keyed,
    )


def order(shop: Shop, order_no: str) -> SalesOrder:
    with shop.hub.factory() as s:
        return s.execute(
            select(SalesOrder).where(
                SalesOrder.account_id == shop.hub.account_id, SalesOrder.order_no == order_no
            )
        ).scalar_one()


def rows(shop: Shop) -> list[Waybill]:
    with shop.hub.factory() as s:
        mine = select(Waybill).where(Waybill.account_id == shop.hub.account_id)
        return list(s.execute(mine.order_by(Waybill.id)).scalars())


def issued(shop: Shop) -> Counter[str]:
    """How many times the courier gave out each number (the simulator's truth log)."""
    return Counter(e["waybill_code"] for e in book(shop.market).log if e["action"] == "get")


def release_draws_the_waybill_and_the_pack_station_prints_it(shop: Shop) -> None:
    (tid,) = imported(shop)
    do_release(shop, tid)
    (row,) = rows(shop)
    o = order(shop, tid)
    # Released without a number: the draw is the drawer's, outside the release.
    assert (row.state, row.cp_code, o.status, o.tracking_number) == (
        "pending",
        "ZTO",
        "released",
        None,
    )
    assert book(shop.market).get_calls == 0
    assert drain(shop).drawn == 1
    (row,) = rows(shop)
    o = order(shop, tid)
    assert row.state == "drawn" and row.waybill_code and o.tracking_number == row.waybill_code
    assert issued(shop) == Counter({row.waybill_code: 1})
    assert book(shop.market).numbers[row.waybill_code]["key"][1] == (tid,)  # the Taobao tid
    assert row.route and row.print_data and row.waybill_code in row.print_data
    assert drain(shop) == waybills.Drawn()  # nothing left to do

    # What the nodes are sent: the number and the route; the pack station prints both.
    with shop.hub.factory() as s:
        msg = core.release_message(s, s.get(SalesOrder, o.id))  # type: ignore[arg-type]
    assert (msg.waybill, msg.waybill_route) == (row.waybill_code, row.route)
    skus = {
        ln.sku_code: CatalogueUpsert(
            sku_code=ln.sku_code, name=ln.sku_code, barcodes=[f"BC-{ln.sku_code}"], weight_g=100
        )
        for ln in msg.lines
    }
    station = PackStation(PackConfig(station="pack-1", printers={"ZTO": "zebra-zto"}))
    t = 1000
    station.handle(WaybillScanned(msg.waybill, OrderView(msg, skus), t))  # type: ignore[arg-type]
    for ln in msg.lines:
        for _ in range(ln.qty):
            t += 1000
            station.handle(ItemScanned(f"BC-{ln.sku_code}", skus[ln.sku_code], None, t))
    grams = 100 * sum(ln.qty for ln in msg.lines)
    station.handle(WeightStable(grams, t + 1000))
    cmds = station.handle(PrinterStatus("zebra-zto", True, None, t + 2000))
    (job,) = [c for c in cmds if isinstance(c, Print)]
    assert job.label.waybill == row.waybill_code and job.label.route == row.route
    zpl = build_label(job.label)
    # The order page draws the same label, route included (cloud/orders/label.py).
    with shop.hub.factory() as s:
        detail = order_views.detail(s, shop.hub.account_id, tid)
        detail["waybill_route"] = waybill_outbox.route_of_order(s, shop.hub.account_id, tid)
    assert label.shipping_label(detail).route == row.route
    assert row.waybill_code.encode() in zpl and row.route.split()[0].encode() in zpl


def a_lost_answer_and_a_retried_release_never_draw_two(shop: Shop) -> None:
    (tid,) = imported(shop)
    do_release(shop, tid)
    with pytest.raises(ConflictError), transaction(shop.hub.factory) as s:
        release(s, shop.hub.account_id, tid, "t", shop.now())  # retried: refused, nothing added
    assert len(rows(shop)) == 1
    shop.market.faults.waybill_timeout = 1.0  # the courier draws, the answer is a 504 page
    assert drain(shop, attempts=2).retry == 1
    assert len(issued(shop)) == 1 and order(shop, tid).tracking_number is None
    (row,) = rows(shop)
    assert (row.state, row.attempts, row.waybill_code) == ("pending", 1, None)
    shop.market.faults.waybill_timeout = 0.0
    assert drain(shop) == waybills.Drawn()  # backing off
    shop.market.advance(60)
    assert drain(shop).drawn == 1
    (row,) = rows(shop)
    (number,) = issued(shop)
    assert issued(shop)[number] == 1 and row.waybill_code == number
    assert order(shop, tid).tracking_number == number


def a_release_that_rolls_back_draws_nothing(shop: Shop) -> None:
    (tid,) = imported(shop)
    with pytest.raises(RuntimeError), transaction(shop.hub.factory) as s:
        release(s, shop.hub.account_id, tid, "t", shop.now())
        raise RuntimeError("the request failed after the release")
    assert rows(shop) == [] and drain(shop) == waybills.Drawn()
    assert book(shop.market).get_calls == 0


def cancel_and_withdraw_give_the_number_back(shop: Shop) -> None:
    a, b = imported(shop, 2)
    for no in (a, b):
        do_release(shop, no)
    assert drain(shop).drawn == 2
    first_a, first_b = order(shop, a).tracking_number, order(shop, b).tracking_number
    assert first_a and first_b
    with transaction(shop.hub.factory) as s:
        workflow.cancel(s, shop.hub.account_id, a, "buyer cancelled", "t", shop.now())
        reversals.cancel_outbound(s, shop.hub.account_id, b, "address changed", "t", shop.now())
    assert order(shop, a).tracking_number is None and order(shop, b).tracking_number is None
    assert drain(shop).cancelled == 2
    numbers = book(shop.market).numbers
    assert numbers[first_a]["state"] == numbers[first_b]["state"] == "cancelled"
    # b comes back: a new draw, a new number; the old one stays given back.
    do_release(shop, b)
    assert drain(shop).drawn == 1
    again = order(shop, b).tracking_number
    assert again and again != first_b and numbers[again]["state"] == "issued"
    assert [r.state for r in rows(shop)] == ["cancelled", "cancelled", "drawn"]


def an_order_cancelled_before_the_draw_is_never_drawn(shop: Shop) -> None:
    (tid,) = imported(shop)
    do_release(shop, tid)
    with transaction(shop.hub.factory) as s:
        workflow.cancel(s, shop.hub.account_id, tid, "buyer cancelled", "t", shop.now())
    assert drain(shop) == waybills.Drawn()
    assert [r.state for r in rows(shop)] == ["void"] and book(shop.market).get_calls == 0


def a_refused_draw_holds_the_order_with_the_reason(shop: Shop) -> None:
    (tid,) = imported(shop)
    do_release(shop, tid)
    assert drain(shop).failed == 1
    (row,) = rows(shop)
    o = order(shop, tid)
    assert row.state == "failed" and "cp_code" in (row.error or "")
    assert o.on_hold and o.hold_reason and o.hold_reason.startswith("e-waybill not drawn")
    assert o.status == "released" and o.tracking_number is None
    with shop.hub.factory() as s:
        msg = core.release_message(s, s.get(SalesOrder, o.id))  # type: ignore[arg-type]
        assert msg.status == "on_hold" and msg.waybill is None
        assert [w.state for w in waybills.of_order(s, shop.hub.account_id, tid)] == ["failed"]


def orders_of_a_courier_without_a_source_keep_the_stand_in(shop: Shop) -> None:
    with transaction(shop.hub.factory) as s:
        from cloud.db.waybills import WaybillSource

        s.delete(s.get(WaybillSource, (shop.hub.account_id, "ZTO")))
    (tid,) = imported(shop)
    do_release(shop, tid)
    assert order(shop, tid).tracking_number and rows(shop) == []


def two_drawers_draw_each_parcel_once(shop: Shop) -> None:
    tids = imported(shop, 5)
    for tid in tids:
        do_release(shop, tid)
    start = threading.Barrier(2)
    results: list[waybills.Drawn] = []

    def go(owner: str) -> None:
        start.wait()
        results.append(
            waybills.drain(
                shop.hub.factory, lambda _shop: provider(shop), owner=owner, now=shop.now
            )
        )

    threads = [threading.Thread(target=go, args=(o,)) for o in ("hub-a", "hub-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.drawn for r in results) == 5 and book(shop.market).get_calls == 5
    assert sorted(issued(shop).values()) == [1] * 5
    assert {order(shop, t).tracking_number for t in tids} == set(issued(shop))


# Each scenario in an account of its own, several to a test: a PostgreSQL database per test
# costs seconds (make test's budget).


def test_drawn_once_and_printed(engine: Engine) -> None:
    release_draws_the_waybill_and_the_pack_station_prints_it(set_up(engine, 51, name="a"))
    a_lost_answer_and_a_retried_release_never_draw_two(set_up(engine, 51, name="b"))
    a_release_that_rolls_back_draws_nothing(set_up(engine, 51, name="c"))
    two_drawers_draw_each_parcel_once(set_up(engine, 54, name="d"))


def test_given_back_held_or_left_alone(engine: Engine) -> None:
    cancel_and_withdraw_give_the_number_back(set_up(engine, 51, name="a"))
    an_order_cancelled_before_the_draw_is_never_drawn(set_up(engine, 51, name="b"))
    # A courier code Cainiao does not know: refused (code 41), the order held.
    a_refused_draw_holds_the_order_with_the_reason(set_up(engine, 52, "NOSUCH", name="c"))
    orders_of_a_courier_without_a_source_keep_the_stand_in(set_up(engine, 53, name="d"))


def _settle(shop: Shop, rng: random.Random, keyed: bool) -> list[str]:
    for _ in range(60):
        if not any(r.state in ("pending", "cancel") for r in rows(shop)):
            return []
        shop.market.advance(rng.choice([30.0, 300.0, 3600.0]), 0.0)
        drain(shop, attempts=2, keyed=keyed)
    return [f"still due: {[(r.id, r.state, r.error) for r in rows(shop)]}"]


def check(shop: Shop) -> list[str]:
    """No number given twice, every order at the warehouse holds exactly its one live number,
    every other number drawn for us was given back."""
    wrong: list[str] = []
    counts = issued(shop)
    wrong += [f"{n} issued {c} times" for n, c in counts.items() if c != 1]
    numbers = book(shop.market).numbers
    with shop.hub.factory() as s:
        mine = select(SalesOrder).where(SalesOrder.account_id == shop.hub.account_id)
        orders_ = {o.id: o for o in s.execute(mine).scalars()}
        held = {o.tracking_number: o for o in orders_.values() if o.tracking_number}
        for n, info in numbers.items():
            o = held.get(n)
            if info["state"] == "issued" and (o is None or o.status not in core.AT_EDGE):
                wrong.append(f"{n} live at the courier but not on an order at the warehouse")
            if info["state"] == "cancelled" and o is not None:
                wrong.append(f"{n} given back but still on order {o.order_no}")
        for o in orders_.values():
            if o.status in core.AT_EDGE and not o.on_hold and o.tracking_number not in numbers:
                wrong.append(f"{o.order_no} at the warehouse without a drawn number")
    per_row = Counter(r.waybill_code for r in rows(shop) if r.waybill_code)
    wrong += [f"{n} on {c} rows" for n, c in per_row.items() if c != 1]
    return wrong


def simulate(
    engine: Engine, seed: int, *, keyed: bool = True, lost: float = 0.4, name: str = "seller"
) -> list[str]:
    """Seeded faults (call limits, platform errors, HTML pages, lost answers); orders released,
    cancelled, withdrawn and released again between drains."""
    shop = set_up(engine, seed, name=name)
    rng = random.Random(seed)
    shop.market.faults = Faults.seeded(seed)
    for name in ("late_index", "replica_lag", "change_between_pages", "garbage_address"):
        setattr(shop.market.faults, name, 0.0)  # the download's faults are not what is tested
    shop.market.faults.waybill_timeout = rng.uniform(lost / 2, lost)
    saved = shop.market.faults
    shop.market.faults = Faults()
    audited = imported(shop, rng.randint(3, 8))  # downloaded without faults
    shop.market.faults = saved
    for _ in range(4):
        for no in audited:
            o = order(shop, no)
            roll = rng.random()
            with transaction(shop.hub.factory) as s:
                now: datetime = shop.now()
                if o.status == "audited" and not o.on_hold and roll < 0.7:
                    release(s, shop.hub.account_id, no, "t", now)
                elif o.status == "released" and roll < 0.15:
                    reversals.cancel_outbound(s, shop.hub.account_id, no, "changed", "t", now)
                    if o.on_hold:
                        workflow.set_hold(s, shop.hub.account_id, no, False, None, "t", now)
                elif o.status == "released" and roll < 0.25:
                    workflow.cancel(s, shop.hub.account_id, no, "buyer", "t", now)
        shop.market.advance(rng.uniform(1, 120), 0.0)
        drain(shop, attempts=2, keyed=keyed)
    return _settle(shop, rng, keyed) + check(shop)


SEEDS = 5  # make test on SQLite; PostgreSQL 2; --long: 200 on each
PG_SEEDS = 2
LONG_SEEDS = 200


def test_no_waybill_drawn_twice_or_left_live_under_seeded_faults(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    """Per seed, in an account of its own: no number issued twice, each order at the
    warehouse holds its one live number, every other number drawn for us was given back."""
    count = PG_SEEDS if engine.dialect.name == "postgresql" else SEEDS
    if request.config.getoption("--long"):
        count = LONG_SEEDS
    failures = {
        seed: wrong
        for seed in range(1000, 1000 + count)
        if (wrong := simulate(engine, seed, name=f"seller-{seed}"))
    }
    assert failures == {}


def test_ablation_a_new_package_id_per_call_leaks_numbers(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    """Without the same package id on every call for a parcel, a lost answer's number stays
    drawn at the courier, on no order: the property test above sees it."""
    if engine.dialect.name == "postgresql" and not request.config.getoption("--long"):
        pytest.skip("the ablation runs on SQLite in make test (the rule is no database's)")
    wrong = simulate(engine, 1000, keyed=False, lost=0.6, name="ablated")
    assert any("live at the courier but not on an order" in w for w in wrong), wrong
    assert simulate(engine, 1000, lost=0.6, name="seller-2") == []
