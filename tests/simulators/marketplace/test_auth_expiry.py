"""Keys that stop working: a TOP session key that expires or is revoked (code 27, HTTP 200,
as every TOP error), a Shopify access token likewise (401); the seller authorising the app
again through the control plane gives a new key for the same seller, and the old one stays
refused. All through the simulator's HTTP surface."""

from __future__ import annotations

import httpx
import orjson

from simulators.marketplace.app import MarketplaceApp
from simulators.marketplace.market import Market
from tests.simulators.marketplace.test_gateway import KEY, SECRET, SESSION, Gateway

DOMAIN, TOKEN = "exp-shop.myshopify.com", "shpat-exp"
ORDERS = "/admin/api/2024-10/orders.json"


def test_top_session_expires_mid_use_and_a_new_key_works_for_the_same_seller() -> None:
    market = Market(seed=2)
    market.add_shop(KEY, SECRET, SESSION, "shop-1")
    gw = Gateway(market)
    ctl = gw.http
    mine = market.place()
    m = "taobao.trades.sold.get"
    assert "trades_sold_get_response" in gw.call(m, fields="tid")
    # Expires two calls from now (each call takes 0.2 s of virtual time).
    r = ctl.post("/_sim/expire", json={"session": SESSION, "after": 0.3})
    assert r.status_code == 200 and orjson.loads(r.content)["expires_at"] > market.now
    assert "trades_sold_get_response" in gw.call(m, fields="tid")
    err = gw.call(m, fields="tid")["error_response"]
    assert (err["code"], err["msg"], err["sub_code"]) == (
        27,
        "Invalid session",
        "invalid-sessionkey",
    )
    assert "expired" in err["sub_msg"]
    # The seller authorises the app again: a new key, the old one refused for good.
    r = ctl.post("/_sim/reauthorise", json={"session": SESSION, "new_session": "s-renewed"})
    assert orjson.loads(r.content) == {"seller_nick": "shop-1"}
    assert gw.call(m, fields="tid")["error_response"]["code"] == 27
    ok = gw.call(m, {"session": "s-renewed"}, fields="tid")["trades_sold_get_response"]
    assert [t["tid"] for t in ok["trades"]["trade"]] == [mine]  # the seller's trades still
    # Revoked (the seller withdrew the authorisation): the same code, the other wording.
    ctl.post("/_sim/revoke", json={"session": "s-renewed"})
    err = gw.call(m, {"session": "s-renewed"}, fields="tid")["error_response"]
    assert err["code"] == 27 and err["sub_msg"] == "session key is invalid"
    # A key the control plane does not know is a 400, and nothing changes.
    bad = ctl.post("/_sim/expire", json={"session": "nobody"})
    assert bad.status_code == 400 and set(market.shops) == {"s-renewed"}


def test_shopify_token_expired_or_revoked_is_401_and_reinstalling_gives_a_new_one() -> None:
    market = Market(seed=4)
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, TOKEN, "hush")
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sim")

    def orders(token: str) -> httpx.Response:
        return http.get(ORDERS, params={"status": "any"}, headers={"X-Shopify-Access-Token": token})

    assert orders(TOKEN).status_code == 200
    http.post("/_sim/expire", json={"session": TOKEN})
    r = orders(TOKEN)
    assert r.status_code == 401 and "Invalid API key or access token" in r.json()["errors"]
    r = http.post("/_sim/shopify/reauthorise", json={"token": TOKEN, "new_token": "shpat-new"})
    assert r.status_code == 200
    assert orders(TOKEN).status_code == 401 and orders("shpat-new").status_code == 200
    # An expiring token granted for an hour: refused after it.
    http.post(
        "/_sim/shopify/reauthorise",
        json={"token": "shpat-new", "new_token": "shpat-hour", "expires_in": 3600},
    )
    assert orders("shpat-hour").status_code == 200
    market.advance(3601)
    assert orders("shpat-hour").status_code == 401
    http.post("/_sim/revoke", json={"session": "shpat-hour"})
    assert orders("shpat-hour").status_code == 401
