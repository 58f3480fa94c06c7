"""A shop whose key stops working (docs/channels.md, rule 8): a TOP session key that expires
in the middle of a run, a Shopify access token that expires, a key revoked while a shipment
confirmation waits. The shop is parked as needing re-authorisation, nothing is called while
it waits (downloads, confirmations), the watermark stays where the last stored slice ended,
and after the new key is saved everything resumes with no trade missed or doubled and each
shipment confirmed once. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from cloud.channels import schedule, shipments, shops
from cloud.channels.download import download
from cloud.channels.shopify.orders import ShopifyOrders
from cloud.channels.stock_push import Pushed
from cloud.cli import channels_app
from cloud.db.engine import transaction
from cloud.db.models import ChannelShipment, ChannelShop, SalesOrder
from cloud.errors import ConflictError, InvalidError
from cloud.stock.ledger import receive
from simulators.marketplace.market import Market
from simulators.marketplace.stock import StockFaults
from tests.cloud.channels.harness import Shop, at, make_hub, make_shop, ship, stock_up
from tests.cloud.channels.shopify_harness import make_shopify_shop
from tests.cloud.channels.stock_harness import dirty, drain, figure, setup
from tests.cloud.channels.test_download import paid


def _row(shop: Shop) -> ChannelShop:
    with shop.hub.factory() as s:
        row = s.get(ChannelShop, shop.shop_id)
        assert row is not None
        s.expunge(row)
        return row


def _all_stored_once(shop: Shop) -> None:
    """Every trade of the truth log stored at its final version; no order made twice."""
    truth = shop.market.truth_state()["trades"]
    stored = shop.stored()
    assert set(stored) == set(truth) and truth
    for tid, last in truth.items():
        assert stored[tid].modified == at(last["modified"]), tid
    with shop.hub.factory() as s:
        doubled = s.execute(
            select(SalesOrder.order_no).group_by(SalesOrder.order_no).having(func.count() > 1)
        ).all()
    assert doubled == []


def _renew(shop: Shop, old: str, new: str) -> None:
    """The seller authorises the app again; the new key is saved in the hub."""
    shop.market.reauthorise(old, new)
    with transaction(shop.hub.factory) as s:
        row = s.get(ChannelShop, shop.shop_id)
        assert row is not None
        with pytest.raises(InvalidError):  # a pasted key with a space inside: refused
            shops.reauthorise(s, row, "s renewed", shop.now())
        shops.reauthorise(s, row, f" {new}\n", shop.now())  # the paste's edges trimmed
    row = _row(shop)
    assert (row.status, row.status_reason, row.session_key) == ("active", None, new)
    due = row.next_run_at
    assert due is not None and due.replace(tzinfo=UTC) == shop.now()  # due at once


def test_a_session_expiring_mid_run_parks_the_shop_and_resumes_with_nothing_lost(
    engine: Engine,
) -> None:
    shop = make_shop(make_hub(engine), Market(seed=11), "tb1")
    market = shop.market
    market.advance(2 * 86_400 + 3600, rate=0.0002)  # offline two days: three day slices
    old = f"s-{shop.code}"
    market.expire(old, after=EXPIRES_AFTER)  # some calls into the run
    end = shop.now() - timedelta(minutes=2)
    first = shop.run(session=_row(shop).session_key, page_size=50)
    assert first.outcome == "needs_reauth"
    assert "TOP error 27" in (first.error or "") and "expired" in (first.error or "")
    row = _row(shop)
    assert row.status == "needs_reauth" and "expired" in (row.status_reason or "")
    # The slices stored before the expiry stay; the watermark is the last one's end, short of
    # the window's: what lies after it is read by the next run (nothing lost).
    mark = shop.watermark()
    assert mark is not None and mark < end.replace(microsecond=0)
    kept = shop.stored()
    assert kept and all(r.modified.replace(tzinfo=UTC) <= mark for r in kept.values())
    # Parked: the next run calls nothing, "download now" is refused and queues nothing.
    calls = market.calls
    again = shop.run(session=row.session_key, page_size=50)
    assert again.outcome == "needs_reauth" and market.calls == calls
    with transaction(shop.hub.factory) as s, pytest.raises(ConflictError):
        schedule.request_download(s, shop.hub.account_id, shop.code, shop.now())
    assert shop.watermark() == mark
    market.advance(3600, rate=0.002)  # buyers go on meanwhile
    _renew(shop, old, "s-renewed")
    market.advance(600)
    resumed = shop.run(session=_row(shop).session_key, page_size=50)
    assert resumed.outcome == "ok" and resumed.reached is not None and resumed.reached > mark
    _all_stored_once(shop)


#: Virtual seconds until the key expires: each call takes 0.2 s, and a day slice of this
#: schedule is two calls (the count, then its one page read back): the first slice is
#: stored, the second is refused.
EXPIRES_AFTER = 0.5


def test_an_expired_shopify_token_parks_the_shop_until_a_new_one_is_saved(
    engine: Engine,
) -> None:
    shop = make_shopify_shop(make_hub(engine), Market(seed=5), "sp1")
    market = shop.market
    market.advance(3 * 3600, rate=0.01)
    market.expire(f"shpat-{shop.code}")

    def run() -> str:
        source = ShopifyOrders(shop.admin(token=_row(shop).session_key), limit=5, status="any")
        return download(shop.hub.factory, shop.shop_id, source, owner="hub-1", now=shop.now).outcome

    assert run() == "needs_reauth" and shop.watermark() is None and shop.stored() == {}
    row = _row(shop)
    assert "401" in (row.status_reason or "") and "Invalid API key" in (row.status_reason or "")
    calls = market.calls
    assert run() == "needs_reauth" and market.calls == calls
    shop.app.shopify.reauthorise(f"shpat-{shop.code}", "shpat-renewed")
    with transaction(shop.hub.factory) as s:
        parked = s.get(ChannelShop, shop.shop_id)
        assert parked is not None
        shops.reauthorise(s, parked, "shpat-renewed", shop.now())
    market.advance(600)
    assert run() == "ok"
    _all_stored_once(shop)


def test_a_revoked_key_holds_confirmations_without_using_their_tries(engine: Engine) -> None:
    hub = make_hub(engine)
    stock_up(hub)
    shop = make_shop(hub, Market(seed=41), "tb1")
    market = shop.market
    tids = paid(shop, 2)
    assert shop.run().outcome == "ok"
    numbers = {str(t): ship(shop.hub, str(t), shop.now()) for t in tids}
    assert all(numbers.values())
    market.shops[f"s-{shop.code}"].revoked = True  # the seller withdrew the authorisation

    def drain() -> shipments.Sent:
        key = _row(shop).session_key
        return shipments.drain(
            shop.hub.factory,
            lambda _shop: shop.confirmer(attempts=1, session=key),
            owner="hub-1",
            now=shop.now,
        )

    drain()
    row = _row(shop)
    assert row.status == "needs_reauth" and "TOP error 27" in (row.status_reason or "")
    calls = market.calls
    for _ in range(3):  # hours pass: nothing is called, no try is used up
        market.advance(3600)
        assert drain() == shipments.Sent()
    assert market.calls == calls
    with shop.hub.factory() as s:
        rows = s.execute(select(ChannelShipment)).scalars().all()
        assert {(r.state, r.attempts) for r in rows} == {("pending", 0)}
    market.reauthorise(f"s-{shop.code}", "s-renewed")
    with transaction(shop.hub.factory) as s:
        parked = s.get(ChannelShop, shop.shop_id)
        assert parked is not None
        shops.reauthorise(s, parked, "s-renewed", shop.now())
    assert drain().done == 2
    confirmed = [str(c["tid"]) for c in market.truth_state()["shipments"]]
    assert sorted(confirmed) == sorted(str(t) for t in tids)  # each once, with its parcel number
    assert {c["out_sid"] for c in market.truth_state()["shipments"]} == set(numbers.values())


def test_the_cli_saves_a_new_key_from_stdin(engine: Engine, db_url: str) -> None:
    shop = make_shop(make_hub(engine, "acme"), Market(seed=3), "tb1")
    with transaction(shop.hub.factory) as s:
        shops.park(s, shop.shop_id, "TOP error 27: session key has expired")
    runner = CliRunner()
    common = ["tb1", "--account", "acme", "--database-url", db_url, "--key-file", "-"]
    bad = runner.invoke(channels_app, ["reauthorise", *common], input="two words\n")
    assert bad.exit_code == 1 and "without spaces" in bad.output
    assert _row(shop).status == "needs_reauth"
    ok = runner.invoke(channels_app, ["reauthorise", *common], input="s-renewed\n")
    assert ok.exit_code == 0, ok.output
    assert "s-renewed" not in ok.output  # the key is not echoed
    row = _row(shop)
    assert (row.status, row.session_key) == ("active", "s-renewed")


def on_sale(shop: Shop, code: str) -> int:
    return shop.market.stock.levels.get((f"nick-{shop.code}", code), 0)


def test_a_revoked_key_parks_the_stock_push_until_the_new_key(engine: Engine) -> None:
    shop, received = setup(engine, 31, stock=StockFaults())
    drain(shop)  # the first push: every SKU listed at our figure
    market = shop.market
    market.shops[shop.session_key()].revoked = True
    with transaction(shop.hub.factory) as s:
        receive(s, shop.hub.account_id, "WH1", "SKU-A", 3, "t", datetime.now(UTC))
    assert drain(shop).retry == 1
    row = _row(shop)
    assert row.status == "needs_reauth" and "TOP error 27" in (row.status_reason or "")
    calls = market.calls
    market.advance(3600)
    assert drain(shop) == Pushed() and market.calls == calls  # waits, calls nothing
    assert on_sale(shop, "SKU-A") == received["SKU-A"]
    shop.reauthorise()
    assert drain(shop).pushed == 1 and not dirty(shop)
    assert on_sale(shop, "SKU-A") == received["SKU-A"] + 3 == figure(shop, "SKU-A")
