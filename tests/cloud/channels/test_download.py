"""One shop's download runs against the simulator: the client's signing, bad input of every
kind (held or refused, never dropped and never half-written), auth failures, leases, records.
Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from cloud.channels import shops
from cloud.channels.intake import Unusable, clean, money
from cloud.channels.taobao.orders import TRADE_TYPES
from cloud.channels.taobao.signing import top_sign
from cloud.db.engine import transaction
from cloud.db.models import ChannelRun, ChannelShop, SalesOrder
from simulators.marketplace.market import DEFAULT_TYPES, Faults, Market
from tests.cloud.channels.harness import Shop, make_hub, make_shop
from tests.simulators.marketplace.test_gateway import (
    DOC_PARAMS,
    DOC_VECTORS,
    REQUEST,
    REQUEST_VECTORS,
    SECRET,
)


@pytest.mark.parametrize("method", sorted(DOC_VECTORS))
def test_client_signing_matches_the_known_answers(method: str) -> None:
    # The same vectors the simulator's own signing code is held to (computed with md5sum
    # and openssl, see tests/simulators/marketplace/test_gateway.py).
    assert top_sign({**DOC_PARAMS, "sign": "x"}, "test", method) == DOC_VECTORS[method]
    assert top_sign({**REQUEST, "sign_method": method}, SECRET, method) == REQUEST_VECTORS[method]


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return make_shop(make_hub(engine), Market(seed=7), "tb1")


def paid(shop: Shop, count: int = 1) -> list[str]:
    tids = [shop.market.place() for _ in range(count)]
    shop.market.advance(5)
    for tid in tids:
        shop.market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    shop.market.advance(600)  # past the safety lag
    return [str(t) for t in tids]


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_a_paid_trade_becomes_an_audited_guanjia_order(shop: Shop, sign_method: str) -> None:
    (tid,) = paid(shop)
    result = shop.run(sign_method=sign_method)
    assert (result.outcome, result.new, result.error) == ("ok", 1, None)
    row = shop.stored()[tid]
    assert row.state == "imported" and row.order_id is not None
    with shop.hub.factory() as s:
        order = s.execute(select(SalesOrder).where(SalesOrder.id == row.order_id)).scalar_one()
        run = s.execute(select(ChannelRun).where(ChannelRun.id == result.run_id)).scalar_one()
    trade = shop.market.trades[int(tid)][-1].trade
    assert order.order_no == tid and order.channel == "taobao"
    assert order.total_cents == int(Decimal(trade["payment"].replace(",", "")) * 100)
    assert order.recipient["province"] == trade["receiver_state"]
    assert (run.outcome, run.orders_new, run.pages >= 1) == ("ok", 1, True)
    assert run.window_end == shop.watermark()
    again = shop.run()  # the overlap reads it again: nothing new, nothing doubled
    assert (again.new, again.changed) == (0, 0)
    with shop.hub.factory() as s:
        assert len(s.execute(select(SalesOrder).where(SalesOrder.order_no == tid)).all()) == 1


def test_unpaid_and_closed_trades_are_stored_but_not_ordered(shop: Shop) -> None:
    waiting = str(shop.market.place())
    closed = shop.market.place()
    shop.market.change(closed, "cancel", status="TRADE_CLOSED_BY_TAOBAO")
    shop.market.advance(600)
    shop.run()
    rows = shop.stored()
    assert (rows[waiting].state, rows[str(closed)].state) == ("waiting", "closed")
    assert rows[waiting].order_id is None


def test_non_default_trade_types_are_asked_for(shop: Shop) -> None:
    shop.market.faults.non_default_type = 1.0
    (tid,) = paid(shop)
    assert shop.market.trades[int(tid)][-1].trade["type"] not in DEFAULT_TYPES
    shop.run()
    assert shop.stored()[tid].state == "imported"
    # Without the explicit type list (TOP's default) the same trade is invisible.
    blind = make_shop(shop.hub, shop.market, "tb-blind")
    src = blind.source()
    src.types = ()
    assert src.listed(blind.now() - timedelta(hours=1), blind.now()).modified == {}
    assert set(DEFAULT_TYPES) < set(TRADE_TYPES)


def test_prices_with_commas_emoji_and_nul(shop: Shop) -> None:
    shop.market.faults.money_commas = 1.0
    shop.market.faults.hostile_text = 1.0
    tids = paid(shop, 8)
    shop.run()
    rows = shop.stored()
    with shop.hub.factory() as s:
        for tid in tids:
            trade = shop.market.trades[int(tid)][-1].trade
            order = s.execute(select(SalesOrder).where(SalesOrder.order_no == tid)).scalar_one()
            assert order.total_cents == int(Decimal(trade["payment"].replace(",", "")) * 100)
            assert "\x00" not in order.buyer_nick and "🐼" in order.buyer_nick
            assert order.buyer_remark is not None and "🚚" in order.buyer_remark
            assert "\x00" not in str(rows[tid].payload)
    assert any("," in shop.market.trades[int(t)][-1].trade["payment"] for t in tids)


def test_money_is_decimal_and_refuses_what_is_not_money() -> None:
    assert money("1,299.00", "p") == Decimal("1299.00")
    assert money("12.5", "p") == Decimal("12.5") and money(7, "p") == Decimal(7)
    assert money(12.35, "p") == Decimal("12.35")
    for bad in ("1,29.00", "12.345", "-1", "1e3", "", "NaN", None, True, "１２"):
        with pytest.raises(Unusable):
            money(bad, "p")
    assert clean("a\x00b\x1fc🐼") == "abc🐼"


def test_a_payment_beyond_what_an_order_holds_is_held_with_a_sentence(shop: Shop) -> None:
    # Found by `make fuzz` (100,000 Taobao answers): a payment of 2^63 yuan passed the money
    # check and failed the whole run with the order model's ValidationError.
    huge, fine = paid(shop, 2)
    shop.market.trades[int(huge)][-1].trade["payment"] = "92233720368547758.08"
    result = shop.run()
    assert (result.outcome, result.held) == ("ok", 1)
    rows = shop.stored()
    assert rows[huge].state == "held" and "total_cents" in (rows[huge].hold_reason or "")
    assert rows[huge].order_id is None and rows[fine].order_id is not None


def test_garbage_address_and_unmapped_sku_are_held_never_dropped(shop: Shop) -> None:
    shop.market.faults.garbage_address = 1.0
    (bad_address,) = paid(shop)
    shop.market.faults.garbage_address = 0.0
    shop.market.faults.unmapped_sku = 1.0
    (unmapped,) = paid(shop)
    result = shop.run()
    assert result.held == 2
    rows = shop.stored()
    assert rows[bad_address].state == "held" and "address" in (rows[bad_address].hold_reason or "")
    assert rows[unmapped].state == "held" and "UNMAPPED-" in (rows[unmapped].hold_reason or "")
    assert rows[unmapped].order_id is None
    with shop.hub.factory() as s:
        assert s.execute(select(SalesOrder).where(SalesOrder.order_no == unmapped)).first() is None


@pytest.mark.parametrize(
    ("client", "needle"),
    [({"secret": "wrong"}, "TOP error 25"), ({"now": "stale"}, "TOP error 31")],
)
def test_bad_signature_and_stale_timestamp_fail_the_run_and_write_nothing(
    shop: Shop, client: dict[str, object], needle: str
) -> None:
    paid(shop)
    if client.get("now") == "stale":
        client = {"now": lambda: shop.now() - timedelta(minutes=11)}
    result = shop.run(**client)
    assert result.outcome == "failed" and needle in (result.error or "")
    assert shop.stored() == {} and shop.watermark() is None
    with shop.hub.factory() as s:
        run = s.execute(select(ChannelRun).where(ChannelRun.id == result.run_id)).scalar_one()
    assert run.outcome == "failed" and needle in (run.error or "")


def test_html_instead_of_json_is_retried_then_fails_cleanly(shop: Shop) -> None:
    (tid,) = paid(shop)
    shop.market.faults.html = 1.0
    result = shop.run()
    assert result.outcome == "failed" and "text/html, not JSON" in (result.error or "")
    assert shop.stored() == {} and shop.watermark() is None
    shop.market.faults.html = 0.5  # sometimes: retries get through
    assert shop.run().outcome == "ok"
    assert shop.stored()[tid].state == "imported"


def test_an_invalid_session_parks_the_shop_until_reauthorised(shop: Shop) -> None:
    (tid,) = paid(shop)
    shop.market.shops[f"s-{shop.code}"].revoked = True
    calls = shop.market.calls
    first = shop.run()
    assert first.outcome == "needs_reauth" and "TOP error 27" in (first.error or "")
    assert shop.market.calls == calls + 1  # not retried
    second = shop.run()
    assert second.outcome == "needs_reauth" and shop.market.calls == calls + 1  # not called
    with transaction(shop.hub.factory) as s:
        row = s.get(ChannelShop, shop.shop_id)
        assert row is not None and row.status == "needs_reauth"
        shop.market.add_shop("12345678", SECRET, "s-new", f"nick-{shop.code}")
        shops.reauthorise(s, row, "s-new", shop.now())
    assert shop.run(session="s-new").outcome == "ok"
    assert shop.stored()[tid].state == "imported"


def test_a_second_process_never_runs_a_leased_shop(shop: Shop) -> None:
    paid(shop)
    with transaction(shop.hub.factory) as s:
        assert shops.take_lease(s, shop.shop_id, "hub-1", shop.now(), timedelta(minutes=10))
    busy = shop.run(owner="hub-2")
    assert busy.outcome == "busy" and shop.stored() == {}
    with transaction(shop.hub.factory) as s:
        assert not shops.take_lease(s, shop.shop_id, "hub-2", shop.now(), timedelta(minutes=10))
        # hub-1 died; its lease runs out and hub-2 may take the shop, after which hub-1's
        # slice would not be stored (keep_lease fails).
        later = shop.now() + timedelta(minutes=11)
        assert shops.take_lease(s, shop.shop_id, "hub-2", later, timedelta(minutes=10))
        assert not shops.keep_lease(s, shop.shop_id, "hub-1", later, timedelta(minutes=10))
    shop.market.advance(11 * 60)
    assert shop.run(owner="hub-2").outcome == "ok"


def test_a_shop_offline_for_days_is_caught_up_in_day_slices(shop: Shop) -> None:
    shop.market.advance(3 * 86_400 + 3600, rate=0.002)
    started = shop.now()
    result = shop.run()  # four windows: TOP refuses one over a day
    assert result.outcome == "ok"
    truth = shop.market.truth_state()["trades"]
    assert set(shop.stored()) == set(truth) and len(truth) > 100
    assert shop.watermark() == started.replace(microsecond=0) - timedelta(minutes=2)


def test_rate_limits_are_waited_out(engine: Engine) -> None:
    shop = make_shop(make_hub(engine), Market(seed=3, faults=Faults(rate_limit=0.3)), "tb1")
    tids = paid(shop, 5)
    assert shop.run().outcome == "ok"
    assert set(tids) <= set(shop.stored())


def test_only_unsettled_versions_are_read_again(shop: Shop) -> None:
    """``modified`` has whole seconds: a version stored with the listed ``modified`` is read
    again unless it was read more than ``settle`` after that second (two changes in one
    second share a ``modified``, and a lagging replica may have had only the first)."""
    from cloud.channels.intake import store, unsettled
    from cloud.channels.ports import ChannelTrade

    x = shop.now().replace(microsecond=0)
    settle = timedelta(minutes=10)
    with transaction(shop.hub.factory) as s:
        row = s.get(ChannelShop, shop.shop_id)
        assert row is not None
        for ext, read_at in (("1", x + timedelta(seconds=5)), ("2", x + timedelta(minutes=11))):
            store(
                s,
                row,
                [ChannelTrade(ext, x, "WAIT_BUYER_PAY", "fixed", False, False, {})],
                x,
                read_at,
            )
    listed = {"1": x, "2": x, "3": x, "4": x - timedelta(seconds=1)}
    with shop.hub.factory() as s:
        need = unsettled(s, shop.shop_id, listed, settle)
        assert need == ["1", "3", "4"]  # "2" is settled; "3" and "4" are not stored


def test_an_order_the_order_path_refuses_is_held_with_its_sentence(engine: Engine) -> None:
    # No main warehouse: create_orders refuses the batch; each trade is then tried alone
    # (one refusal holds only its own order) and held with the domain's own sentence.
    shop = make_shop(make_hub(engine, warehouse=False), Market(seed=8), "tb1")
    tids = paid(shop, 2)
    result = shop.run()
    assert (result.outcome, result.held) == ("ok", 2)
    for tid in tids:
        row = shop.stored()[tid]
        assert row.state == "held" and "no main warehouse" in (row.hold_reason or "")
