"""Later channel changes reaching the Guanjia order (cancel, refund before and after shipping,
address edits), once however often a version is read; refunds downloaded with their own
watermark; TMC messages used as hints, de-duplicated by id; SKU mapping retrying held trades.
Against the marketplace simulator in-process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from cloud.channels import changes, messages, remap, shops
from cloud.channels.ports import ChannelRefund, PushedMessage
from cloud.channels.refunds import STREAM as REFUNDS
from cloud.channels.refunds import download_refunds, store_refunds
from cloud.channels.taobao.refunds import TaobaoRefunds
from cloud.channels.taobao.tmc import TaobaoMessages
from cloud.db.channel_changes import ChannelChange, ChannelMessage
from cloud.db.channel_changes import ChannelRefund as RefundRow
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop, OrderLog, SalesOrder
from cloud.errors import InvalidError
from cloud.orders.core import release_message, reserved_by
from cloud.orders.release import release
from cloud.orders.workflow import ship
from simulators.marketplace.market import Market
from simulators.marketplace.refunds import Refunds
from simulators.marketplace.tmc import Tmc
from tests.cloud.channels.harness import Shop, make_hub, make_shop, sqlite_engine_at, stock_up


def _shop(engine: Engine) -> Shop:
    hub = make_hub(engine)
    stock_up(hub)
    market = Market(seed=7)
    Refunds.of(market)
    Tmc.of(market)
    return make_shop(hub, market, "tb1")


@pytest.fixture
def shop(_sqlite_template: Path, tmp_path: Path) -> Iterator[Shop]:
    """SQLite only: tests whose SQL is the same on both databases."""
    engine = sqlite_engine_at(_sqlite_template, tmp_path)
    yield _shop(engine)
    engine.dispose()


@pytest.fixture
def any_shop(engine: Engine) -> Shop:
    """SQLite and PostgreSQL: tests of the dialects' INSERT … ON CONFLICT and locks."""
    return _shop(engine)


def paid(shop: Shop, remark: str = "") -> str:
    m = shop.market
    tid = m.place()
    m.change(tid, "modify", buyer_message=remark)
    m.advance(5)
    m.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    m.advance(600)  # past the safety lag
    return str(tid)


def order(shop: Shop, tid: str) -> SalesOrder:
    with shop.hub.factory() as s:
        o = s.execute(
            select(SalesOrder).where(
                SalesOrder.account_id == shop.hub.account_id, SalesOrder.order_no == tid
            )
        ).scalar_one()
        s.expunge(o)
        return o


def changed(shop: Shop, tid: str) -> list[tuple[str, str]]:
    with shop.hub.factory() as s:
        rows = s.execute(
            select(ChannelChange.kind, ChannelChange.outcome)
            .where(ChannelChange.shop_id == shop.shop_id, ChannelChange.external_id == tid)
            .order_by(ChannelChange.id)
        ).all()
    return [(k, o) for k, o in rows]


def logged(shop: Shop, tid: str, action: str) -> int:
    o = order(shop, tid)
    with shop.hub.factory() as s:
        return int(
            s.execute(
                select(func.count()).where(OrderLog.order_id == o.id, OrderLog.action == action)
            ).scalar_one()
        )


def read_twice(shop: Shop, tid: str) -> None:
    """The trade's current version stored twice more (as overlapping windows, a re-scan and a
    TMC hint would): nothing may happen twice."""
    trade = shop.source().trade(tid)
    for _ in range(2):
        with transaction(shop.hub.factory) as s:
            row = s.get(ChannelShop, shop.shop_id)
            assert row is not None
            changes.store(s, row, [trade], shop.now(), shop.now())


def oids(shop: Shop, tid: str) -> list[int]:
    return [ln["oid"] for ln in shop.market.trades[int(tid)][-1].trade["orders"]["order"]]


def refunds_source(shop: Shop) -> TaobaoRefunds:
    return TaobaoRefunds(shop.source().client, page_size=5)


def test_refund_before_shipping_holds_and_the_closed_trade_cancels_once(any_shop: Shop) -> None:
    shop = any_shop
    tid = paid(shop)
    shop.run()
    assert order(shop, tid).status == "audited"
    desk = Refunds.of(shop.market)
    rids = [desk.request(shop.market, int(tid), oid) for oid in oids(shop, tid)]
    shop.market.advance(600)
    shop.run()
    o = order(shop, tid)
    assert o.on_hold and (o.hold_reason or "").startswith(changes.REFUND_HOLD)
    for rid in rids:  # the seller agrees: every line refunded, Taobao closes the trade
        desk.settle(shop.market, rid, "SUCCESS")
    shop.market.advance(600)
    shop.run()
    assert shop.market.trades[int(tid)][-1].trade["status"] == "TRADE_CLOSED"
    read_twice(shop, tid)
    shop.run()
    o = order(shop, tid)
    assert o.status == "cancelled"
    with shop.hub.factory() as s:
        assert reserved_by(s, tid, shop.hub.account_id) == {}
    assert logged(shop, tid, "cancel") == 1 and logged(shop, tid, "hold") == 1
    kinds = changed(shop, tid)
    assert kinds.count(("cancel", "applied")) == 1
    # Asked on every line: held (once); paid after the close: nothing more to do.
    assert kinds.count(("refund", "held")) == len(rids)
    assert kinds.count(("refund", "none")) == len(rids)


def test_a_withdrawn_refund_lifts_our_hold_and_only_ours(shop: Shop) -> None:
    tid = paid(shop)
    shop.run()
    desk = Refunds.of(shop.market)
    rid = desk.request(shop.market, int(tid), oids(shop, tid)[0])
    shop.market.advance(600)
    shop.run()
    assert order(shop, tid).on_hold
    desk.settle(shop.market, rid, "CLOSED")
    shop.market.advance(600)
    shop.run()
    read_twice(shop, tid)
    o = order(shop, tid)
    assert not o.on_hold and o.status == "audited"
    assert logged(shop, tid, "unhold") == 1
    # A second trade held by a person (remark) keeps that hold when its refund is withdrawn.
    other = paid(shop, remark="请尽快发货")
    shop.run()
    before = order(shop, other)
    assert before.on_hold
    rid2 = desk.request(shop.market, int(other), oids(shop, other)[0])
    shop.market.advance(600)
    shop.run()
    assert (order(shop, other).hold_reason or "").startswith(changes.REFUND_HOLD)
    desk.settle(shop.market, rid2, "CLOSED")
    shop.market.advance(600)
    shop.run()
    after = order(shop, other)
    assert after.on_hold and after.hold_reason == before.hold_reason


def test_after_shipping_a_refund_or_close_goes_to_after_sales_not_cancel(shop: Shop) -> None:
    tid = paid(shop)
    shop.run()
    with transaction(shop.hub.factory) as s:
        release(s, shop.hub.account_id, tid, "t", shop.now())
        ship(s, shop.hub.account_id, tid, "t", shop.now())
    desk = Refunds.of(shop.market)  # the marketplace has not heard of the shipment yet
    for oid in oids(shop, tid):
        desk.settle(shop.market, desk.request(shop.market, int(tid), oid), "SUCCESS")
    shop.market.advance(600)
    shop.run()
    read_twice(shop, tid)
    assert order(shop, tid).status == "shipped"
    kinds = changed(shop, tid)
    assert ("cancel", "after_sales") in kinds and ("refund", "after_sales") in kinds
    assert not [k for k in kinds if k[1] in ("applied", "held")]
    assert logged(shop, tid, "cancel") == 0


def test_an_address_edit_patches_before_the_audit_and_holds_after_it(shop: Shop) -> None:
    m = shop.market
    early = paid(shop, remark="不要放快递柜")  # a remark: saved, waits for a person
    late = paid(shop)
    edge = paid(shop)
    shop.run()
    assert order(shop, early).status == "saved" and order(shop, late).status == "audited"
    with transaction(shop.hub.factory) as s:
        release(s, shop.hub.account_id, edge, "t", shop.now())
    version = order(shop, edge).version
    new = {"receiver_address": "文二路 88 号", "receiver_mobile": "13900000000"}
    for tid in (early, late, edge):
        m.change(int(tid), "modify", **new)
    m.advance(600)
    shop.run()
    for tid in (early, late, edge):
        read_twice(shop, tid)
    o = order(shop, early)
    assert (
        o.recipient["address"].endswith("文二路 88 号")
        and o.recipient["phone"] == new["receiver_mobile"]
    )
    assert changed(shop, early) == [("address", "applied")]
    assert order(shop, late).on_hold and changed(shop, late) == [("address", "held")]
    released = order(shop, edge)
    assert released.on_hold and released.version == version + 1  # one new version for the edge
    with shop.hub.factory() as s:
        o2 = s.get(SalesOrder, released.id)
        assert o2 is not None
        assert release_message(s, o2).status == "on_hold"
    # The same address in a later version (a memo change) is no change.
    m.change(int(late), "modify", seller_memo="m")
    m.advance(600)
    shop.run()
    assert changed(shop, late) == [("address", "held")]


def test_refunds_stream_has_its_own_watermark_and_holds_once_with_the_trade(
    any_shop: Shop,
) -> None:
    shop = any_shop
    tid = paid(shop)
    shop.run()
    desk = Refunds.of(shop.market)
    rid = desk.request(shop.market, int(tid), oids(shop, tid)[0])
    shop.market.advance(600)
    result = download_refunds(
        shop.hub.factory, shop.shop_id, refunds_source(shop), owner="hub-1", now=shop.now
    )
    assert (result.outcome, result.new) == ("ok", 1), result.error
    with shop.hub.factory() as s:
        mark = shops.watermark(s, shop.shop_id, REFUNDS)
        row = s.execute(select(RefundRow).where(RefundRow.refund_id == str(rid))).scalar_one()
    assert mark == result.reached and mark is not None
    assert (row.status, row.phase, row.external_id) == ("WAIT_SELLER_AGREE", "onsale", tid)
    assert str(row.refund_fee) == str(desk.final()[rid]["refund_fee"])
    assert order(shop, tid).on_hold  # the refund stream held it before the trade was read
    shop.run()  # the trade's line says the same: no second change
    assert changed(shop, tid) == [("refund", "held")] and logged(shop, tid, "hold") == 1
    again = download_refunds(
        shop.hub.factory, shop.shop_id, refunds_source(shop), owner="hub-1", now=shop.now
    )
    assert (again.outcome, again.new, again.changed) == ("ok", 0, 0)


def test_an_older_refund_version_never_replaces_a_newer_one(shop: Shop) -> None:
    tid = paid(shop)
    shop.run()
    now = shop.now()
    base = {"refund_id": "77", "tid": tid, "oid": "1", "refund_fee": "1.00"}

    def version(status: str, at: Any) -> ChannelRefund:
        return ChannelRefund("77", tid, "1", at, status, "onsale", Decimal("1.00"), base)

    newer, older = version("CLOSED", now), version("WAIT_SELLER_AGREE", now - timedelta(minutes=5))
    with transaction(shop.hub.factory) as s:
        live = s.get(ChannelShop, shop.shop_id)
        assert live is not None
        store_refunds(s, live, [newer], now)
        assert store_refunds(s, live, [older], now) == (0, 0)
        assert s.execute(select(RefundRow.status)).scalar_one() == "CLOSED"
        store_refunds(s, live, [older], now, guard=False)  # the ablation switch
        assert s.execute(select(RefundRow.status)).scalar_one() == "WAIT_SELLER_AGREE"


class CountingOrders:
    """The shop's order source, counting the trades read whole."""

    def __init__(self, shop: Shop) -> None:
        self.inner, self.reads = shop.source(), 0
        self.max_span = self.inner.max_span

    @property
    def calls(self) -> int:
        return self.inner.calls

    def listed(self, start: Any, end: Any) -> Any:
        return self.inner.listed(start, end)

    def fetch(self, ids: list[str]) -> Any:
        self.reads += len(ids)
        return self.inner.fetch(ids)


class LostConfirms:
    """Messages whose confirmations never arrive (a hub that stopped after its commit)."""

    def __init__(self, inner: TaobaoMessages) -> None:
        self.inner = inner

    def poll(self, limit: int) -> list[PushedMessage]:
        return self.inner.poll(limit)

    def confirm(self, message_ids: list[str]) -> None:
        pass


def test_tmc_messages_are_hints_used_once_by_id(any_shop: Shop) -> None:
    _tmc(any_shop, dedup=True)


def test_ablation_without_message_id_dedup_every_delivery_is_pulled(shop: Shop) -> None:
    _tmc(shop, dedup=False)


def _tmc(shop: Shop, *, dedup: bool) -> None:
    tmc = Tmc.of(shop.market)
    tmc.duplicate, tmc.reorder = 1.0, 1.0
    tids = [paid(shop) for _ in range(3)]
    src = TaobaoMessages(shop.source().client)
    orders = CountingOrders(shop)
    first = messages.consume(
        shop.hub.factory,
        shop.shop_id,
        LostConfirms(src),
        orders,
        owner="hub-1",
        now=shop.now,
        dedup=dedup,
    )
    assert first.outcome == "ok" and first.polled > first.fresh
    shop.market.advance(tmc.redeliver_s + 1)  # not confirmed: delivered again
    second = messages.consume(
        shop.hub.factory, shop.shop_id, src, orders, owner="hub-1", now=shop.now, dedup=dedup
    )
    assert second.polled > 0 and tmc.unconfirmed() == 0
    stored = shop.stored()
    assert set(tids) <= set(stored) and all(stored[t].state == "imported" for t in tids)
    with shop.hub.factory() as s:
        seen = s.execute(select(func.count()).select_from(ChannelMessage)).scalar_one()
    if dedup:
        # Each trade read whole once, though each message came at least four times.
        assert orders.reads == len(tids) and second.fresh == 0 and seen == first.fresh
    else:
        assert orders.reads > 2 * len(tids)  # the ablation: every delivery pulled again


def test_the_scheduler_runs_refunds_and_messages(shop: Shop) -> None:
    from tests.cloud.channels.harness import scheduler

    tid = paid(shop)
    sch = scheduler(shop.hub, [shop], "hub-1")
    sch.refund_sources = lambda _row: refunds_source(shop)
    sch.message_sources = lambda _row: TaobaoMessages(shop.source().client)
    tick = sch.tick()
    assert [r.outcome for r in tick.refund_runs] == ["ok"]
    assert [c.outcome for c in tick.consumed] == ["ok"]
    assert shop.stored()[tid].state == "imported"


def test_mapping_a_sku_imports_the_held_trades_once(shop: Shop) -> None:
    shop.market.faults.unmapped_sku = 1.0
    held = [paid(shop) for _ in range(2)]
    shop.market.faults.unmapped_sku = 0.0
    shop.run()
    rows = shop.stored()
    assert all(rows[t].state == "held" for t in held)
    outer = {
        ln["outer_sku_id"]
        for t in held
        for ln in shop.market.trades[int(t)][-1].trade["orders"]["order"]
    }
    with transaction(shop.hub.factory) as s:
        live = s.get(ChannelShop, shop.shop_id)
        assert live is not None
        with pytest.raises(InvalidError):
            remap.map_sku(s, live, sorted(outer)[0], "NO-SUCH-SKU", "t", shop.now())
    assert all(shop.stored()[t].state == "held" for t in held)  # a refusal changed nothing
    done = []
    for code in sorted(outer):
        with transaction(shop.hub.factory) as s:
            live = s.get(ChannelShop, shop.shop_id)
            assert live is not None
            done.append(remap.map_sku(s, live, code, "SKU-A", "t", shop.now()))
    assert sum(d.imported for d in done) == len(held)
    shop.run()  # read again: nothing doubled
    with transaction(shop.hub.factory) as s:
        live = s.get(ChannelShop, shop.shop_id)
        assert live is not None
        assert remap.retry_held(s, live, shop.now()) == (0, 0, 0)
    for t in held:
        assert shop.stored()[t].state == "imported"
        assert {ln.sku_code for ln in _lines(shop, t)} == {"SKU-A"}
    with shop.hub.factory() as s:
        n = s.execute(select(func.count()).where(SalesOrder.order_no.in_(held))).scalar_one()
    assert n == len(held)


def _lines(shop: Shop, tid: str) -> list[Any]:
    from cloud.orders.core import lines_of

    o = order(shop, tid)
    with shop.hub.factory() as s:
        return lines_of(s, [o.id])[o.id]


def test_cli_map_sku(shop: Shop) -> None:
    from typer.testing import CliRunner

    from cloud.cli import channels_app

    shop.market.faults.unmapped_sku = 1.0
    tid = paid(shop)
    shop.run()
    outer = sorted(
        {ln["outer_sku_id"] for ln in shop.market.trades[int(tid)][-1].trade["orders"]["order"]}
    )
    bind = shop.hub.factory.kw["bind"]
    url = bind.url.render_as_string(hide_password=False)
    common = ["--shop", "tb1", "--account", "seller", "--database-url", url]
    runner = CliRunner()
    bad = runner.invoke(
        channels_app, ["map-sku", *common, "--outer-sku-id", outer[0], "--sku", "X"]
    )
    assert bad.exit_code == 1 and "no SKU X" in bad.output
    for code in outer:
        ok = runner.invoke(
            channels_app, ["map-sku", *common, "--outer-sku-id", code, "--sku", "SKU-B"]
        )
        assert ok.exit_code == 0, ok.output
    assert "now orders 1" in ok.output
    assert shop.stored()[tid].state == "imported"


def test_a_refund_withdrawn_and_another_asked_on_the_same_line_keeps_the_hold(
    shop: Shop,
) -> None:
    # Found by the seeded test (seed 5044): the withdrawn one must not lift the other's hold.
    tid = paid(shop)
    shop.run()
    desk, oid = Refunds.of(shop.market), oids(shop, tid)[0]
    desk.settle(shop.market, desk.request(shop.market, int(tid), oid), "CLOSED")
    desk.request(shop.market, int(tid), oid)
    shop.market.advance(600)
    shop.run()  # the trade's line: the second refund, open
    download_refunds(
        shop.hub.factory, shop.shop_id, refunds_source(shop), owner="hub-1", now=shop.now
    )  # the stream: the first, withdrawn, seen for the first time; the second open
    o = order(shop, tid)
    assert o.on_hold and (o.hold_reason or "").startswith(changes.REFUND_HOLD)
    assert ("refund_ended", "none") in changed(shop, tid)


def test_a_trade_imported_with_nothing_to_act_on_leaves_its_order_row_unread(
    shop: Shop,
) -> None:
    """A paid trade imported as it is (the Double-11 bulk) has no change for on_trade: its
    order row is not read or locked (one statement per order, half the hub's time at
    Double-11: docs/channels.md rule 17); a trade whose first version already carries a
    refund still locks its order and holds it."""
    plain = [paid(shop) for _ in range(3)]
    refunded = paid(shop)
    Refunds.of(shop.market).request(shop.market, int(refunded), oids(shop, refunded)[0])
    shop.market.advance(600)
    engine = shop.hub.factory.kw["bind"]
    reads: list[str] = []

    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        flat = " ".join(statement.split())
        if "FROM sales_order WHERE sales_order.id =" in flat:
            reads.append(flat)

    event.listen(engine, "before_cursor_execute", _seen)
    try:
        shop.run()
    finally:
        event.remove(engine, "before_cursor_execute", _seen)
    assert [order(shop, t).status for t in plain] == ["audited"] * 3
    held = order(shop, refunded)
    assert held.on_hold and (held.hold_reason or "").startswith(changes.REFUND_HOLD)
    assert changed(shop, refunded) == [("refund", "held")]
    assert len(reads) == 1  # the refunded trade's order, to hold it; none for the others
