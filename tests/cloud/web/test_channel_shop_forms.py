"""A shop added, scheduled and given its courier codes from the dashboard and the API
(docs/channels.md "Dashboard"): the page and ``POST /api/v1/channels/shops`` call the one
domain function; every refusal is a sentence and writes nothing; a reader and a forged form
are refused; another seller's shop is not found; the secret and the key are never shown."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.models import ChannelCourier, ChannelShop
from tests.cloud.conftest import login
from tests.cloud.web.conftest import add_user
from tests.cloud.web.test_channel_pages import EN, seed_shop

FORM = {
    "code": "淘宝旗舰店",
    "platform": "taobao",
    "api_url": "http://127.0.0.1:9/router/rest",
    "app_key": "12345678",
    "app_secret": "app-secret-1",
    "session_key": "session-key-1",
    "sign_method": "hmac",
    "start_from": "2026-11-11T00:00",
    "interval_min": "10",
}


def _shops(app: TestClient) -> list[tuple[Any, ...]]:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return [
            tuple(r)
            for r in s.execute(
                select(
                    ChannelShop.account_id,
                    ChannelShop.code,
                    ChannelShop.platform,
                    ChannelShop.app_key,
                    ChannelShop.app_secret,
                    ChannelShop.session_key,
                    ChannelShop.sign_method,
                    ChannelShop.interval_s,
                    ChannelShop.schedule_enabled,
                    ChannelShop.start_from,
                ).order_by(ChannelShop.id)
            )
        ]


def test_add_a_shop_on_the_page_and_every_bad_field_is_refused_with_nothing_written(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    a = browser_client()
    page = a.get("/web/channels").text
    assert "添加店铺" in page and 'type="password"' in page
    post = lambda form, **kw: a.post(  # noqa: E731
        "/web/channels", data={"csrf": a.csrf, **form}, headers=EN, **kw
    )  # type: ignore[attr-defined]

    bad = {
        "code": ("a/b", "“/”"),
        "app_key": ("two words", "App key must be 1 to 64 characters without spaces"),
        "app_secret": ("", "App secret must be 1 to 200"),
        "session_key": ("x" * 301, "Session key or access token must be 1 to 300"),
        "api_url": ("ftp://example.com", "API address must be an http(s) URL"),
        "platform": ("ebay", "Platform must be one of taobao, shopify"),
        "sign_method": ("sha1", "Signature method must be one of md5, hmac, hmac-sha256"),
        "start_from": ("yesterday", "Download orders changed since takes a date and time"),
        "interval_min": ("0", "Download every (minutes) takes a whole number from 1 to 1440"),
    }
    for field, (value, sentence) in bad.items():
        r = post({**FORM, field: value})
        assert r.status_code == 422 and sentence in r.text, (field, r.status_code, r.text[-400:])
    # The form again, with what was typed and the sentence beside its field; never the
    # secret or the key.
    r = post({**FORM, "app_key": "two words"})
    assert 'value="淘宝旗舰店"' in r.text and 'value="two words"' in r.text
    assert 'id="shop-app_key-err"' in r.text and 'aria-invalid="true"' in r.text
    assert "app-secret-1" not in r.text and "session-key-1" not in r.text
    assert post({**FORM, "code": " padded"}).status_code == 422
    # Too long is refused whole, never cut to fit and saved.
    r = post({**FORM, "api_url": "http://" + "a" * 5000})
    assert r.status_code == 422 and "API address must be an http(s) URL of at most 300" in r.text
    assert post({**FORM, "code": "x" * 100_000}).status_code == 422
    assert a.post("/web/channels", data={**FORM, "csrf": "forged"}).status_code == 403
    assert _shops(demo_app) == []

    r = post(FORM, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("?added=1")
    ((_acct, code, platform, key, secret, session, sign, interval, on, start),) = _shops(demo_app)
    assert (code, platform, key, secret, session, sign) == (
        "淘宝旗舰店",
        "taobao",
        "12345678",
        "app-secret-1",
        "session-key-1",
        "hmac",
    )
    assert (interval, on) == (600, True)
    # 2026-11-11 00:00 China time is 2026-11-10 16:00 UTC (SQLite gives it back naive).
    assert start.replace(tzinfo=None).isoformat() == "2026-11-10T16:00:00"
    shown = a.get(r.headers["location"]).text
    assert "店铺已添加" in shown and "app-secret-1" not in shown and "session-key-1" not in shown

    again = post(FORM)
    assert again.status_code == 409 and "exists already" in again.text
    assert 'id="shop-code-err"' in again.text
    assert len(_shops(demo_app)) == 1

    # A reader has no form and is refused; another seller may use the same code for a
    # shop of their own, which leaves the first seller's shop as it was.
    add_user(demo_app, "demo", "reader", "readonly")
    reader = browser_client("demo", "reader")
    assert "添加店铺" not in reader.get("/web/channels").text
    r = reader.post("/web/channels", data={"csrf": reader.csrf, **FORM, "code": "r1"})  # type: ignore[attr-defined]
    assert r.status_code == 403
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    r = b.post(
        "/web/channels",
        data={"csrf": b.csrf, **FORM, "app_secret": "b-secret"},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    rows = _shops(demo_app)
    assert len(rows) == 2 and rows[0][0] != rows[1][0] and rows[0][4] == "app-secret-1"
    assert FORM["code"] in b.get("/web/channels").text


#: Each field refused on the page in Chinese (the pages' first language): the sentence
#: names the field by its label, as the form shows it, never by the API's name.
ZH_REFUSALS = {
    "app_key": ("two words", "AppKey 须为 1 至 64 个字符，不含空格"),
    "app_secret": ("", "AppSecret 须为 1 至 200 个字符"),
    "session_key": ("x" * 301, "SessionKey 或访问令牌 须为 1 至 300 个字符"),
    "api_url": ("ftp://example.com", "接口地址须为 http(s) 网址"),
    "platform": ("ebay", "平台 须为以下之一：taobao, shopify"),
    "sign_method": ("sha1", "签名方法 须为以下之一：md5, hmac, hmac-sha256"),
    "start_from": ("yesterday", "下载起始时间须为日期和时间，而不是“yesterday”"),
    "interval_min": ("0", "下载间隔（分钟） 须为 1 到 1440 之间的整数"),
}


def test_a_refused_field_is_named_by_its_label_in_both_languages(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """Chinese first, English when chosen: the sentence beside the field names it as its
    label does; the API's field name (``app_key``…) is in no sentence; nothing is written.
    The API's 422 says the English label and names the field in ``loc``."""
    a = browser_client()
    for field, (value, said) in ZH_REFUSALS.items():
        for headers, want in (({}, said), (EN, None)):
            r = a.post(
                "/web/channels",
                data={"csrf": a.csrf, **FORM, field: value},  # type: ignore[attr-defined]
                headers=headers,
            )
            found = re.search(rf'id="shop-{field}-err" role="alert">([^<]*)<', r.text)
            assert r.status_code == 422 and found, (field, r.text[-400:])
            sentence = html.unescape(found.group(1))
            assert field not in sentence, sentence
            if want is not None:
                assert sentence.startswith(want), (field, sentence)
            else:
                assert not re.search(r"[\u4e00-\u9fff]", sentence), sentence  # English
    assert _shops(demo_app) == []
    admin = login(demo_app, "admin", account="demo")
    body = {
        "code": "shop-api",
        "platform": "taobao",
        "api_url": "https://eco.taobao.com/router/rest",
        "app_key": "two words",
        "app_secret": "s",
        "session_key": "k",
        "start_from": "2026-11-11T00:00:00+08:00",
    }
    r = demo_app.post("/api/v1/channels/shops", json=body, headers=admin)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["loc"] == ["body", "app_key"]
    assert detail["msg"].startswith("App key must be 1 to 64 characters"), detail


def test_schedule_and_courier_codes_on_the_shops_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app, failed_shipment=False)
    a = browser_client()
    page = a.get("/web/channels/tb1").text
    assert "保存计划" in page and "快递公司代码" in page and "还没有快递公司代码" in page

    post = lambda path, form: a.post(  # noqa: E731
        f"/web/channels/tb1/{path}", data={"csrf": a.csrf, **form}, headers=EN
    )  # type: ignore[attr-defined]
    for minutes in ("0", "1441", "five", ""):
        r = post("schedule", {"enabled": "on", "interval_min": minutes})
        assert r.status_code == 422 and "Download every (minutes) takes" in r.text
    assert _shops(demo_app)[0][7:9] == (300, True)
    r = post("schedule", {"interval_min": "30"})  # the box unticked: off
    assert r.status_code == 200 and "The schedule is saved." in r.text
    assert _shops(demo_app)[0][7:9] == (1800, False)

    def couriers() -> list[tuple[str, str]]:
        with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
            return [
                (c.carrier, c.company_code)
                for c in s.execute(select(ChannelCourier).order_by(ChannelCourier.carrier))
                .scalars()
                .all()
            ]

    assert post("couriers", {"carrier": "NOPE", "company_code": "X"}).status_code == 422
    assert post("couriers", {"carrier": "SF", "company_code": ""}).status_code == 422
    assert post("couriers", {"carrier": "SF", "company_code": "Y" * 65}).status_code == 422
    assert couriers() == []
    r = post("couriers", {"carrier": "SF", "company_code": "SF-TB"})
    assert r.status_code == 200 and "The courier code is saved." in r.text
    assert "SF-TB" in r.text
    post("couriers", {"carrier": "SF", "company_code": "SF2"})  # a second save replaces it
    assert couriers() == [("SF", "SF2")]

    # Another seller's admin: the shop is not theirs to find; nothing changes.
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    for path, form in (
        ("schedule", {"enabled": "on", "interval_min": "5"}),
        ("couriers", {"carrier": "SF", "company_code": "STOLEN"}),
    ):
        r = b.post(f"/web/channels/tb1/{path}", data={"csrf": b.csrf, **form})  # type: ignore[attr-defined]
        assert r.status_code == 404, path
    assert _shops(demo_app)[0][7:9] == (1800, False) and couriers() == [("SF", "SF2")]


def test_the_api_adds_a_shop_and_lists_its_courier_codes(demo_app: TestClient) -> None:
    admin = login(demo_app, "admin", account="demo")
    body = {
        "code": "shop-api",
        "platform": "shopify",
        "api_url": "http://127.0.0.1:9",
        "app_key": "acme.myshopify.com",
        "app_secret": "whsec",
        "session_key": "shpat_1",
        "start_from": "2026-11-11T00:00:00+08:00",
        "interval_s": 120,
    }
    for change, status in (
        ({"start_from": "2026-11-11T00:00:00"}, 422),  # no zone
        ({"platform": "ebay"}, 422),
        ({"interval_s": 30}, 422),
        ({"app_secret": "two words"}, 422),
        ({"code": "a/b"}, 422),
        ({"extra": 1}, 422),
    ):
        r = demo_app.post("/api/v1/channels/shops", json={**body, **change}, headers=admin)
        assert r.status_code == status, (change, r.text)
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(func.count()).select_from(ChannelShop)).scalar_one() == 0

    r = demo_app.post("/api/v1/channels/shops", json=body, headers=admin)
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["code"], out["platform"], out["interval_s"], out["status"]) == (
        "shop-api",
        "shopify",
        120,
        "active",
    )
    assert "whsec" not in r.text and "shpat_1" not in r.text
    dup = demo_app.post("/api/v1/channels/shops", json=body, headers=admin)
    assert dup.status_code == 409 and "exists already" in dup.json()["detail"]

    add_user(demo_app, "demo", "reader", "readonly")
    reader = login(demo_app, "reader", account="demo")
    r = demo_app.post("/api/v1/channels/shops", json={**body, "code": "r"}, headers=reader)
    assert r.status_code == 403
    r = demo_app.put(
        "/api/v1/channels/shops/shop-api/couriers/SF", json={"company_code": "SF"}, headers=admin
    )
    assert r.status_code == 200, r.text
    listed = demo_app.get("/api/v1/channels/shops/shop-api/couriers", headers=reader)
    assert listed.json() == [{"shop": "shop-api", "carrier": "SF", "company_code": "SF"}]
    add_user(demo_app, "other", "boss", "admin")
    boss = login(demo_app, "boss", account="other")
    assert demo_app.get("/api/v1/channels/shops/shop-api/couriers", headers=boss).status_code == 404
