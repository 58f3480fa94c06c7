"""The simulator's refunds (``taobao.refunds.receive.get``) and TMC messages
(``taobao.tmc.messages.consume`` / ``confirm``): envelopes, the trade following its refunds,
at-least-once delivery, the 24 h keep, and the faults."""

from __future__ import annotations

import json

import pytest

from simulators.marketplace.clock import fmt
from simulators.marketplace.market import Market
from simulators.marketplace.refunds import Refunds
from simulators.marketplace.tmc import Tmc
from tests.simulators.marketplace.test_gateway import KEY, SECRET, SESSION, Gateway


@pytest.fixture
def gw() -> Gateway:
    market = Market(seed=3)
    market.add_shop(KEY, SECRET, SESSION, "shop-1")
    Refunds.of(market)
    Tmc.of(market)
    return Gateway(market)


def _paid(m: Market) -> int:
    tid = m.place()
    m.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    return tid


def test_refunds_receive_get_and_the_trade_following_its_refunds(gw: Gateway) -> None:
    m, desk = gw.market, Refunds.of(gw.market)
    tid = _paid(m)
    lines = [ln["oid"] for ln in m.trades[tid][-1].trade["orders"]["order"]]
    rids = [desk.request(m, tid, oid) for oid in lines]
    m.advance(2)
    fields = "refund_id,tid,oid,status,modified,refund_fee,refund_phase"
    window = {"start_modified": fmt(m.now - 3600), "end_modified": fmt(m.now)}
    body = gw.call("taobao.refunds.receive.get", fields=fields, **window)
    inner = body["refunds_receive_get_response"]
    assert inner["total_results"] == len(rids)
    got = inner["refunds"]["refund"]
    assert {r["refund_id"] for r in got} == set(rids)
    assert all(set(r) == set(fields.split(",")) for r in got)
    assert {(r["status"], r["refund_phase"], r["tid"]) for r in got} == {
        ("WAIT_SELLER_AGREE", "onsale", tid)
    }
    trade = m.trades[tid][-1].trade
    assert {ln["refund_status"] for ln in trade["orders"]["order"]} == {"WAIT_SELLER_AGREE"}
    for rid in rids:
        desk.settle(m, rid, "SUCCESS")
    assert m.trades[tid][-1].trade["status"] == "TRADE_CLOSED"  # every line refunded
    bad = gw.call("taobao.refunds.receive.get", fields=fields, start_modified="x")
    assert bad["error_response"]["code"] == 41
    span = {"start_modified": fmt(m.now - 90_000), "end_modified": fmt(m.now)}
    assert gw.call("taobao.refunds.receive.get", fields=fields, **span)["error_response"]


def test_tmc_at_least_once_kept_a_day_with_duplicates(gw: Gateway) -> None:
    m, tmc = gw.market, Tmc.of(gw.market)
    tid = _paid(m)
    body = gw.call("taobao.tmc.messages.consume", quantity="10")
    msgs = body["tmc_messages_consume_response"]["messages"]["tmc_message"]
    assert [x["topic"] for x in msgs] == ["taobao_trade_TradeCreate", "taobao_trade_TradeBuyerPay"]
    assert {json.loads(x["content"])["tid"] for x in msgs} == {tid}  # content: a JSON string
    assert gw.call("taobao.tmc.messages.consume")["tmc_messages_consume_response"] == {}
    m.advance(tmc.redeliver_s + 1)  # not confirmed: delivered again
    again = gw.call("taobao.tmc.messages.consume")["tmc_messages_consume_response"]
    assert [x["id"] for x in again["messages"]["tmc_message"]] == [x["id"] for x in msgs]
    ids = ",".join(str(x["id"]) for x in msgs)
    done = gw.call("taobao.tmc.messages.confirm", s_message_ids=ids)
    assert done["tmc_messages_confirm_response"] == {"is_success": True}
    m.advance(tmc.redeliver_s + 1)
    assert gw.call("taobao.tmc.messages.consume")["tmc_messages_consume_response"] == {}
    bad = gw.call("taobao.tmc.messages.confirm", s_message_ids="1,x")
    assert bad["error_response"]["code"] == 41
    _paid(m)
    m.advance(86_401)  # kept 24 h, confirmed or not
    assert gw.call("taobao.tmc.messages.consume")["tmc_messages_consume_response"] == {}
    tmc.duplicate, tmc.drop = 1.0, 0.0
    _paid(m)
    dup = gw.call("taobao.tmc.messages.consume")["tmc_messages_consume_response"]
    got = [x["id"] for x in dup["messages"]["tmc_message"]]
    assert len(got) == 4 and len(set(got)) == 2
    tmc.drop = 1.0
    before = tmc.dropped
    _paid(m)
    assert tmc.dropped == before + 2


def test_the_refund_rate_and_tmc_faults_from_the_control_plane() -> None:
    """``/_sim/refunds`` and ``/_sim/tmc`` set what tests set in-process, for a simulator in
    its own process (``guanjia sim marketplace``); a bad setting is a 400 and keeps the old."""
    market = Market(seed=5)
    market.add_shop(KEY, SECRET, SESSION, "shop-1")
    gw = Gateway(market)
    assert gw.http.get("/_sim/refunds").json() == {"rate": 0.0, "refunds": 0}
    r = gw.http.post("/_sim/refunds", json={"rate": 0.5})
    assert r.status_code == 200 and r.json()["rate"] == 0.5
    r = gw.http.post("/_sim/tmc", json={"duplicate": 0.25, "drop": 0.1, "redeliver_s": 30})
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("duplicate", "reorder", "drop", "redeliver_s")} == {
        "duplicate": 0.25,
        "reorder": 0.0,
        "drop": 0.1,
        "redeliver_s": 30.0,
    }
    for part, body in (
        ("refunds", {"rate": 1.5}),
        ("refunds", {"rate": "half"}),
        ("refunds", {"rate": True}),
        ("tmc", {"drop": -0.1}),
        ("tmc", {"lose": 0.5}),
        ("tmc", {"duplicate": 0.9, "drop": 2}),  # one bad field: neither is set
    ):
        r = gw.http.post(f"/_sim/{part}", json=body)
        assert r.status_code == 400 and r.json()["error"], (part, body)
    assert Refunds.of(market).rate == 0.5
    tmc = Tmc.of(market)
    assert (tmc.duplicate, tmc.drop) == (0.25, 0.1)
    # The rate acts: buyers now ask for refunds of paid trades.
    for _ in range(20):
        _paid(market)
    market.advance(600, rate=0.5)
    assert gw.http.get("/_sim/refunds").json()["refunds"] > 0
    assert gw.http.get("/_sim/tmc").json()["published"] > 0
