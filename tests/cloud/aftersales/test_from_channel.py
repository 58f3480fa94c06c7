"""A Taobao refund asked after shipping becomes one after-sales request (cloud/aftersales/
channel.py, called by cloud/channels/refunds.py): a return when the buyer sends the goods
back, made once however often the refunds stream or the trade is read. Against the
marketplace simulator in-process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from cloud.channels.refunds import download_refunds
from cloud.db.aftersales import AftersalesLine, AftersalesRequest
from cloud.db.engine import transaction
from cloud.orders.release import release
from cloud.orders.workflow import ship
from simulators.marketplace.refunds import Refunds
from tests.cloud.channels.harness import Shop
from tests.cloud.channels.test_changes import _shop, oids, paid, read_twice, refunds_source


@pytest.fixture
def any_shop(engine: Engine) -> Shop:
    return _shop(engine)


def _requests(shop: Shop, tid: str) -> list[tuple[str, str, str, str | None, list[int]]]:
    with shop.hub.factory() as s:
        reqs = s.execute(
            select(AftersalesRequest)
            .where(AftersalesRequest.order_no == tid)
            .order_by(AftersalesRequest.id)
        ).scalars()
        return [
            (
                r.kind,
                r.source,
                r.status,
                r.source_key,
                list(
                    s.execute(
                        select(AftersalesLine.qty).where(AftersalesLine.request_id == r.id)
                    ).scalars()
                ),
            )
            for r in reqs
        ]


def _download(shop: Shop) -> None:
    got = download_refunds(
        shop.hub.factory, shop.shop_id, refunds_source(shop), owner="hub-1", now=shop.now
    )
    assert got.outcome == "ok", got.error


def test_a_refund_after_shipping_with_goods_back_becomes_one_return_request(
    any_shop: Shop,
) -> None:
    shop = any_shop
    tid = paid(shop)
    shop.run()
    with transaction(shop.hub.factory) as s:
        release(s, shop.hub.account_id, tid, "t", shop.now())
        ship(s, shop.hub.account_id, tid, "t", shop.now())
    m = shop.market
    m.change(int(tid), "send", status="WAIT_BUYER_CONFIRM_GOODS")  # the buyer has the goods
    m.advance(600)
    shop.run()
    desk = Refunds.of(m)
    oid = oids(shop, tid)[0]
    rid = desk.request(m, int(tid), oid)
    m.advance(600)
    _download(shop)
    made = _requests(shop, tid)
    assert len(made) == 1
    kind, source, status, key, qtys = made[0]
    assert (kind, source, status) == ("return", "channel", "requested")
    assert key == f"channel:{shop.shop_id}:{rid}" and sum(qtys) >= 1
    # read again: the refunds stream re-scanned, the trade read twice: still one request
    _download(shop)
    shop.run()
    read_twice(shop, tid)
    assert _requests(shop, tid) == made


def test_a_refund_before_shipping_makes_no_request(any_shop: Shop) -> None:
    shop = any_shop
    tid = paid(shop)
    shop.run()
    desk = Refunds.of(shop.market)
    desk.request(shop.market, int(tid), oids(shop, tid)[0])
    shop.market.advance(600)
    _download(shop)
    assert _requests(shop, tid) == []
