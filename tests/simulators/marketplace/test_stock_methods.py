"""The simulator's stock: the TOP quantity methods (full, incremental, batch, Tmall's
outer_biz_key), buyers' payments taking stock and refused at 0, faults and the truth log."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.marketplace.market import Market
from simulators.marketplace.stock import num_iid_of, sku_id_of
from tests.simulators.marketplace.test_gateway import KEY, SECRET, SESSION, Gateway

NICK = "shop-1"


@pytest.fixture
def gw() -> Gateway:
    market = Market(seed=1, skus=("SKU-A", "SKU-B"))
    market.add_shop(KEY, SECRET, SESSION, NICK)
    return Gateway(market)


def inner(body: dict[str, Any], key: str) -> Any:
    assert set(body) == {key}, body
    return body[key]


def update(gw: Gateway, **api: str) -> Any:
    sku = api.get("outer_id", "SKU-A")
    num_iid = str(num_iid_of(gw.market, sku))
    return gw.call("taobao.item.quantity.update", num_iid=num_iid, **api)


def test_custom_get_finds_the_listing_of_a_code(gw: Gateway) -> None:
    body = gw.call("taobao.skus.custom.get", outer_id="SKU-A", fields="sku_id,num_iid,quantity")
    (row,) = inner(body, "skus_custom_get_response")["skus"]["sku"]
    assert row["num_iid"] == num_iid_of(gw.market, "SKU-A")
    assert str(row["sku_id"]) == sku_id_of("SKU-A") and row["quantity"] == 0
    none = gw.call("taobao.skus.custom.get", outer_id="NOPE", fields="sku_id")
    assert inner(none, "skus_custom_get_response") == {}  # an empty list is left out


def test_full_and_incremental_updates_and_their_answer(gw: Gateway) -> None:
    item = inner(
        update(gw, outer_id="SKU-A", quantity="7", type="1"), "item_quantity_update_response"
    )
    assert item["item"]["quantity"] == 7 and item["item"]["skus"]["sku"][0]["quantity"] == 7
    sku_id = sku_id_of("SKU-A")
    body = update(gw, sku_id=sku_id, quantity="-3", type="2")
    assert inner(body, "item_quantity_update_response")["item"]["skus"]["sku"][0]["quantity"] == 4
    # Below 0 is refused and changes nothing.
    err = inner(update(gw, sku_id=sku_id, quantity="-5", type="2"), "error_response")
    assert err["code"] == 15 and err["sub_code"] == "isv.item-quantity-update-error"
    assert gw.market.stock.levels[(NICK, "SKU-A")] == 4
    for bad in (
        {"quantity": "-1", "type": "1"},
        {"quantity": "1.5"},
        {"quantity": "2", "type": "3"},
    ):
        err = inner(update(gw, sku_id=sku_id, **bad), "error_response")
        assert err["code"] == 41, bad
    assert gw.market.stock.levels[(NICK, "SKU-A")] == 4
    assert [c["action"] for c in gw.market.stock.log] == ["set", "add"]


def test_outer_biz_key_applies_an_incremental_update_once(gw: Gateway) -> None:
    update(gw, outer_id="SKU-A", quantity="5", type="1")
    for _ in range(3):
        body = update(gw, outer_id="SKU-A", quantity="2", type="2", outer_biz_key="k-1")
        assert inner(body, "item_quantity_update_response")["item"]["quantity"] == 7
    update(gw, outer_id="SKU-A", quantity="1", type="2", outer_biz_key="k-2")
    assert gw.market.stock.levels[(NICK, "SKU-A")] == 8


def test_batch_update_and_its_limit_of_twenty(gw: Gateway) -> None:
    num_iid = str(num_iid_of(gw.market, "SKU-B"))
    body = gw.call(
        "taobao.skus.quantity.update", num_iid=num_iid, outerid_quantities="SKU-B:9", type="1"
    )
    assert inner(body, "skus_quantity_update_response")["item"]["quantity"] == 9
    body = gw.call(
        "taobao.skus.quantity.update",
        num_iid=num_iid,
        skuid_quantities=f"{sku_id_of('SKU-B')}:-2",
        type="2",
    )
    assert inner(body, "skus_quantity_update_response")["item"]["quantity"] == 7
    many = ";".join(f"{sku_id_of('SKU-B')}:1" for _ in range(21))
    err = gw.call("taobao.skus.quantity.update", num_iid=num_iid, skuid_quantities=many, type="2")
    assert inner(err, "error_response")["code"] == 41
    assert gw.market.stock.levels[(NICK, "SKU-B")] == 7


def test_payments_take_stock_and_are_refused_at_zero(gw: Gateway) -> None:
    m = gw.market
    update(gw, outer_id="SKU-A", quantity="1", type="1")
    shop = m.shops[SESSION]
    first, second = m.place_for(shop, "SKU-A"), m.place_for(shop, "SKU-A")
    assert m.stock.take(m, first) and not m.stock.take(m, second)
    assert m.stock.levels[(NICK, "SKU-A")] == 0
    assert [c["action"] for c in m.stock.log][-2:] == ["sale", "refused"]
    # Buyers acting on the clock: no SKU ever below 0, every sale in the log.
    update(gw, outer_id="SKU-B", quantity="3", type="1")
    before = len(m.stock.log)
    m.advance(3600, 0.5)
    assert all(q >= 0 for q in m.stock.levels.values())
    sold = -sum(c["delta"] for c in m.stock.log[before:] if c["action"] == "sale")
    paid = sum(
        ln["num"]
        for vs in m.trades.values()
        if any(v.trade["status"] == "WAIT_SELLER_SEND_GOODS" for v in vs)
        for ln in vs[-1].trade["orders"]["order"]
    )
    assert sold == paid == 3 - m.stock.levels[(NICK, "SKU-B")]
    assert any(c["action"] == "refused" for c in m.stock.log[before:])


def test_a_lost_answer_was_applied(gw: Gateway) -> None:
    gw.market.stock.faults.push_timeout = 1.0
    r = gw.http.post("/_sim/stock", json={"seller_nick": NICK, "levels": {"SKU-A": 2}})
    assert r.status_code == 200
    with pytest.raises(AssertionError):  # the front answered 504, not 200
        update(gw, outer_id="SKU-A", quantity="3", type="2", outer_biz_key="x")
    assert gw.market.stock.levels[(NICK, "SKU-A")] == 5
    state = gw.http.get("/_sim/stock").json()
    assert state["log"][-1]["action"] == "add" and state["log"][-1]["quantity"] == 5
