"""The simulator's TOP gateway: signing, timestamps, envelopes, errors, paging, faults."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.clock import fmt
from simulators.marketplace.market import Faults, Market
from simulators.marketplace.signing import expected_sign

# Known-answer vectors. The documented example (open.taobao.com, 签名算法: parameters foo:1,
# bar:2, foo_bar:3, foobar:4 join as "bar2foo1foo_bar3foobar4") with the secret "test"; the
# digests were computed with coreutils md5sum and `openssl dgst -hmac`, not with our code:
#   printf '%s' 'testbar2foo1foo_bar3foobar4test' | md5sum
#   printf '%s' 'bar2foo1foo_bar3foobar4' | openssl dgst -md5 -hmac test
#   printf '%s' 'bar2foo1foo_bar3foobar4' | openssl dgst -sha256 -hmac test
DOC_PARAMS = {"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"}
DOC_VECTORS = {
    "md5": "21A48F3352CEE1E95AD1B728D16E8016",
    "hmac": "198C87C69DCE82BAD9A7AEAFD9107549",
    "hmac-sha256": "6CE827BD663AD3779C87A6DC3C5FA504F0DF5BF6F375D274502891F942058AD9",
}
# A whole request with a UTF-8 value, secret "sim-secret" (same tools; sign_method is signed too).
REQUEST = {
    "app_key": "12345678",
    "buyer_message": "请尽快发货",
    "fields": "tid,modified",
    "format": "json",
    "method": "taobao.trade.fullinfo.get",
    "session": "test-session",
    "timestamp": "2026-11-11 00:00:01",
    "tid": "3900000000000000001",
    "v": "2.0",
}
REQUEST_VECTORS = {
    "md5": "2AA0EE43A0BBF917D690802BCA9447EA",
    "hmac": "92B9738FB724C5BC0DE74EF0C378FE00",
    "hmac-sha256": "75B365DA483AD81B7B896BBB33941331262652C844E2392D46BC51B536784A47",
}
KEY, SECRET, SESSION = "12345678", "sim-secret", "sim-session"


@pytest.mark.parametrize("method", sorted(DOC_VECTORS))
def test_signing_matches_known_answers(method: str) -> None:
    assert expected_sign({**DOC_PARAMS, "sign": "x"}, "test", method) == DOC_VECTORS[method]
    req = {**REQUEST, "sign_method": method}
    assert expected_sign(req, SECRET, method) == REQUEST_VECTORS[method]


def sign(params: dict[str, str], method: str = "md5") -> str:
    # The tests' own third signer, written from the documentation, so a shared bug in the
    # simulator's and the hub's code would still show here.
    joined = "".join(k + v for k, v in sorted(params.items()) if v)
    return hashlib.md5((SECRET + joined + SECRET).encode()).hexdigest().upper()


class Gateway:
    def __init__(self, market: Market) -> None:
        self.market = market
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=MarketplaceApp(market)), base_url="http://sim"
        )

    def call(self, method: str, sys_over: dict[str, str] | None = None, **api: str) -> Any:
        system = {
            "method": method,
            "app_key": KEY,
            "session": SESSION,
            "timestamp": fmt(self.market.now),
            "format": "json",
            "v": "2.0",
            "sign_method": "md5",
            **(sys_over or {}),
        }
        system["sign"] = sign({**system, **api})
        if sys_over and "sign" in sys_over:
            system["sign"] = sys_over["sign"]
        r = self.http.post("/router/rest?" + urlencode(system), data=api)
        assert r.status_code == 200
        return orjson.loads(r.content)


@pytest.fixture
def gw() -> Gateway:
    market = Market(seed=1)
    market.add_shop(KEY, SECRET, SESSION, "shop-1")
    return Gateway(market)


def test_increment_get_envelope_order_and_paging(gw: Gateway) -> None:
    for _ in range(7):
        gw.market.place()
        gw.market.advance(1.0)
    start, end = fmt(gw.market.now - 3600), fmt(gw.market.now)
    body = gw.call(
        "taobao.trades.sold.increment.get",
        fields="tid,modified,status,type",
        start_modified=start,
        end_modified=end,
        page_size="3",
        page_no="3",
    )
    inner = body["trades_sold_increment_get_response"]
    assert inner["total_results"] == 7
    trades = inner["trades"]["trade"]
    assert len(trades) == 1 and set(trades[0]) == {"tid", "modified", "status", "type"}
    page1 = gw.call(
        "taobao.trades.sold.increment.get",
        fields="tid,modified",
        start_modified=start,
        end_modified=end,
        page_size="3",
        use_has_next="true",
    )["trades_sold_increment_get_response"]
    assert page1["has_next"] is True and "total_results" not in page1
    mods = [t["modified"] for t in page1["trades"]["trade"]]
    assert mods == sorted(mods, reverse=True)  # modified DESC
    empty = gw.call(
        "taobao.trades.sold.increment.get",
        fields="tid",
        start_modified=fmt(gw.market.now - 90_000),
        end_modified=fmt(gw.market.now - 86_400),
    )["trades_sold_increment_get_response"]
    assert empty == {"total_results": 0}  # an empty list is left out, as TOP does


def test_span_over_a_day_and_page_size_over_100_are_refused(gw: Gateway) -> None:
    long = gw.call(
        "taobao.trades.sold.increment.get",
        fields="tid",
        start_modified=fmt(gw.market.now - 86_401),
        end_modified=fmt(gw.market.now),
    )
    assert long["error_response"]["sub_code"].startswith("isv.")
    big = gw.call(
        "taobao.trades.sold.increment.get",
        fields="tid",
        start_modified=fmt(gw.market.now - 60),
        end_modified=fmt(gw.market.now),
        page_size="101",
    )
    assert big["error_response"]["sub_code"].startswith("isv.")


def test_fullinfo_names_fields_as_the_api_and_drops_the_taobao_prefix(gw: Gateway) -> None:
    tid = gw.market.place()
    fields = "tid,status,modified,buyer_nick,payment,receiver_state,orders"
    body = gw.call("taobao.trade.fullinfo.get", fields=fields, tid=str(tid))
    trade = body["trade_fullinfo_get_response"]["trade"]
    assert trade["tid"] == tid and isinstance(trade["payment"], str)
    line = trade["orders"]["order"][0]
    assert {"oid", "outer_sku_id", "num", "price", "refund_status"} <= set(line)


def test_default_type_list_hides_non_default_trades(gw: Gateway) -> None:
    gw.market.faults.non_default_type = 1.0
    gw.market.place()
    args = {"fields": "tid,type", "start_modified": fmt(gw.market.now - 60)}
    args["end_modified"] = fmt(gw.market.now + 1)
    hidden = gw.call("taobao.trades.sold.increment.get", **args)
    assert hidden["trades_sold_increment_get_response"]["total_results"] == 0
    shown = gw.call(
        "taobao.trades.sold.increment.get",
        type="tmall_i18n,eticket,o2o_offlinetrade,nopaid",
        **args,
    )
    assert shown["trades_sold_increment_get_response"]["total_results"] == 1


def test_signature_timestamp_and_session_errors(gw: Gateway) -> None:
    m = "taobao.trades.sold.get"
    assert gw.call(m, {"sign": "0" * 32}, fields="tid")["error_response"]["code"] == 25
    stale = fmt(gw.market.now - 601)
    assert gw.call(m, {"timestamp": stale}, fields="tid")["error_response"]["code"] == 31
    millis = str(int(gw.market.now * 1000))  # what the official SDK sends
    assert "trades_sold_get_response" in gw.call(m, {"timestamp": millis}, fields="tid")
    gw.market.shops[SESSION].revoked = True
    err = gw.call(m, fields="tid")["error_response"]
    assert err["code"] == 27 and set(err) >= {"code", "msg", "sub_code", "sub_msg"}


def test_call_limits_ban_for_n_seconds_and_isp_errors_are_retryable(gw: Gateway) -> None:
    gw.market.faults.rate_limit, gw.market.faults.rate_limit_silent = 1.0, 0.0
    err = gw.call("taobao.trades.sold.get", fields="tid")["error_response"]
    assert err["code"] == 7 and "more seconds" in err["sub_msg"]
    gw.market.faults.rate_limit = 0.0
    again = gw.call("taobao.trades.sold.get", fields="tid")["error_response"]
    assert again["code"] == 7  # the ban lasts
    gw.market.advance(6)
    gw.market.faults.isp_error = 1.0
    isp = gw.call("taobao.trades.sold.get", fields="tid")["error_response"]
    assert isp["sub_code"].startswith("isp.")


def test_html_instead_of_json(gw: Gateway) -> None:
    gw.market.faults.html = 1.0
    r = gw.http.post("/router/rest?method=x")
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")


def test_late_indexing_and_truth_log(gw: Gateway) -> None:
    gw.market.faults = Faults(late_index=1.0, late_index_max=300.0)
    tid = gw.market.place()
    truth = gw.http.get("/_sim/truth").json()
    assert truth["trades"][str(tid)]["action"] == "place"
    assert gw.market.indexed("shop-1") == [] or gw.market.trades[tid][0].visible_at <= gw.market.now
    gw.http.post("/_sim/advance", json={"seconds": 301})
    assert [t["tid"] for t in gw.market.indexed("shop-1")] == [tid]


def test_buyers_act_on_the_virtual_clock_deterministically() -> None:
    a, b = Market(seed=5), Market(seed=5)
    for m in (a, b):
        m.add_shop(KEY, SECRET, SESSION, "shop-1")
        m.advance(600, rate=0.5)
    assert a.truth == b.truth and len(a.truth) > 100
    assert {c["action"] for c in a.truth} >= {"place", "pay", "modify", "cancel"}
