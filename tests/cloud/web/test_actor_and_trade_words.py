"""Who did it and why a channel's trade was unusable, in the page's language (issue 15, "zh_CN
complete").

A person is named by their login ("admin", not "user:admin"), a node with the word for a
node, the hub's own actors by a name: in history and task columns and inside a refusal's
sentence, on the Chinese pages and the English ones (the API keeps the codes). The channel intake's English about an unusable address (cloud/channels/intake.py
``Unusable``), kept in an order's hold and history and in the shop's changes, is said in
Chinese too. The English page and the API say what they said before. Runs on SQLite and
PostgreSQL (``db_url``)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import SalesOrder
from tests.cloud.conftest import login
from tests.cloud.web.conftest import AUDITED
from tests.cloud.web.test_decision_reasons import _history
from tests.cloud.web.test_task_details import _english_left

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
UNREADABLE = "the address is incomplete or unreadable (city, phone)"

#: Every sentence intake refuses a trade with (cloud/channels/intake.py), and its Chinese.
INTAKE = [
    (UNREADABLE, "地址不完整或无法识别（市，电话号码）"),
    ("the address is incomplete or unreadable (name)", "地址不完整或无法识别（收件人姓名）"),
    ("line 7 price is missing", "缺少第 7 行单价"),
    ("refund_fee is missing", "缺少refund_fee"),
    ("line 7 price is not an amount of money: '1.2.3'", "第 7 行单价 不是金额：'1.2.3'"),
    ("the trade has no lines", "该交易没有商品行"),
    ("a line is not an object", "交易中有一行的数据格式不对"),
    ("SKU TB-9 is not in the catalogue", "商品资料中没有 SKU TB-9"),
    ("line 3: quantity 0 is not 1 to 100000", "第 3 行：数量 0 不在 1 到 100000 之间"),
    (
        "Shopify location 71002 is not mapped to a warehouse",
        "Shopify 地点 71002 未对应到我们的任何仓库",
    ),
    (
        "the order cannot hold these values (total_cents): out of range or unreadable",
        "订单容纳不了这些值（total_cents）：超出范围或无法识别",
    ),
    (
        "line 4: the order cannot hold these values (price_cents): out of range or unreadable",
        "第 4 行：订单容纳不了这些值（price_cents）：超出范围或无法识别",
    ),
]


def test_intakes_sentences_said_in_chinese_and_kept_in_english() -> None:
    from cloud.orders.trade_words import unusable_in
    from cloud.web import i18n

    zh, en = i18n.translations("zh_CN").gettext, i18n.translations("en").gettext
    for english, chinese in INTAKE:
        assert unusable_in(english, zh) == chinese, english
        assert unusable_in(english, en) == english
    # Words intake does not write (a marketplace's, a person's) stay as they are.
    for other in ("receiver_address: 没填", "买家说地址错了", "SKU", ""):
        assert unusable_in(other, zh) == other


def test_actors_named_in_the_page_language() -> None:
    from cloud.errors import N_, ConflictError
    from cloud.orders.reasons import actor_in
    from cloud.web import i18n

    zh, en = i18n.translations("zh_CN").gettext, i18n.translations("en").gettext
    assert actor_in("user:admin", zh) == "admin"
    assert actor_in("node:wh1-pick-1", zh) == "节点 wh1-pick-1"
    assert actor_in("channel", zh) == "渠道同步" and actor_in("hub", zh) == "总部系统"
    # An English page names them as a person would too (issue 15): no "user:" either.
    assert actor_in("user:admin", en) == "admin"
    assert actor_in("node:wh1-pick-1", en) == "node wh1-pick-1"
    assert actor_in("channel", en) == "channel sync" and actor_in("hub", en) == "hub"
    # The API's English and the text the hub stores keep the code, as before.
    from cloud.errors import say

    for kept in ("user:admin", "node:wh1-pick-1", "channel", "hub"):
        assert say("by %(by)s", {"by": kept}) == f"by {kept}"
    for odd in ("user:", "robot:x", "张三", ""):
        assert actor_in(odd, zh) == odd
    # A refusal's "by %(by)s": the person's login in Chinese; the API's English as before.
    err = ConflictError(
        N_("task %(task)s was resolved already by %(who)s"), task=7, who="user:lead"
    )
    assert str(err) == "task 7 was resolved already by user:lead"
    assert "lead" in err.translated(zh) and "user:" not in err.translated(zh)
    assert err.translated(en) == "task 7 was resolved already by lead"  # an English page


def _cells(page: str, css: str) -> list[str]:
    return [
        html.unescape(c).strip() for c in re.findall(rf'<td class="{css}">(.*?)</td>', page, re.S)
    ]


def test_an_unusable_address_from_the_channel_said_in_chinese(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The buyer changes the address on the channel to one a courier cannot read
    (cloud/channels/changes.py ``address``): the order is held and the shop's changes say
    why. On the Chinese pages the hold, the history line, its actor and the change's detail
    are Chinese; on the English page and in the API the English as before."""
    from cloud.channels import changes
    from cloud.channels.ports import ChannelTrade
    from cloud.db.channel_changes import ChannelChange
    from cloud.db.models import ChannelOrder, ChannelShop
    from tests.cloud.web.test_channel_pages import seed_shop

    seed_shop(demo_app)
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    trade = ChannelTrade(
        external_id="T-7701",
        modified=now,
        status="WAIT_SELLER_SEND_GOODS",
        trade_type="fixed",
        paid=True,
        closed=False,
        payload={
            "receiver_name": "王五",
            "receiver_mobile": "x",  # not a phone number
            "receiver_state": "浙江省",
            "receiver_address": "文二路 88 号",
        },
    )
    with sessions() as s, s.begin():
        shop = s.execute(select(ChannelShop).where(ChannelShop.code == "tb1")).scalar_one()
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == AUDITED)).scalar_one()
        changes.address(s, shop, ChannelOrder(external_id="T-7701"), o, trade, now)
    with sessions() as s:
        detail = s.execute(select(ChannelChange.detail)).scalar_one()
    assert detail == UNREADABLE  # intake's English, kept as the API answers it

    c = browser_client()
    page = c.get(f"/web/orders/{AUDITED}", headers=ZH).text
    said = "买家在渠道上改了地址：地址不完整或无法识别（市，电话号码）"
    assert f'<span class="held">挂起: {said}</span>' in page, page
    assert said in _history(page)
    who = _history(page, 4)
    assert "渠道同步" in who and not [w for w in who if _english_left(w, set())], who
    en = _history(c.get(f"/web/orders/{AUDITED}", headers=EN).text)
    assert f"the buyer changed the address on the channel: {UNREADABLE}" in en, en
    shop_page = c.get("/web/channels/tb1", headers=ZH).text
    assert "地址不完整或无法识别（市，电话号码）" in _cells(shop_page, "detail"), shop_page
    assert UNREADABLE in _cells(c.get("/web/channels/tb1", headers=EN).text, "detail")
    api = demo_app.get(
        f"/api/v1/orders/{AUDITED}", headers=login(demo_app, "admin", account="demo")
    ).json()
    assert api["hold_reason"] == f"the buyer changed the address on the channel: {UNREADABLE}"


def test_a_persons_actions_named_by_login_on_the_chinese_pages(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """An order held by the admin on the page: its history names "admin" on the Chinese page
    (never "user:admin"), "user:admin" on the English one as the API does."""
    c = browser_client()
    r = c.post(f"/web/orders/{AUDITED}/hold", data={"csrf": c.csrf, "reason": "等买家回电"})
    assert r.status_code == 200, r.text
    page = c.get(f"/web/orders/{AUDITED}", headers=ZH).text
    assert "admin" in _history(page, 4) and "user:" not in page
    # The English page names the person as the Chinese one does (issue 15), not as the API.
    en = c.get(f"/web/orders/{AUDITED}", headers=EN).text
    assert "admin" in _history(en, 4) and "user:" not in en
    # A "by" column outside the history (a rule's version, the users' list) says it too.
    rule = c.get("/web/rules/default-zto", headers=ZH).text
    assert "v1 · 演示数据 ·" in rule and "seed-demo" not in rule
    rule = c.get("/web/rules/default-zto", headers=EN).text
    assert "v1 · demo data ·" in rule and "seed-demo" not in rule
    r = c.post(
        "/web/users",
        data={"csrf": c.csrf, "username": "clerk", "password": "x" * 12, "role": "auditor"},
    )
    for lang in (ZH, EN):
        users = c.get("/web/users", headers=lang).text
        assert "clerk" in users and "user:" not in users, r.text


def test_a_journal_entrys_kind_and_memo_in_the_page_language(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The books, an order's money and a buyer's statement showed the poster's codes and
    memos in English ("order_paid", "order paid") on the Chinese pages; now by their names,
    the English page and the API as stored."""
    from datetime import timedelta

    from cloud.finance import poster
    from cloud.web import i18n
    from cloud.web.ledger_words import EVENT_KINDS, kind_in, memo_in
    from tests.cloud.web.conftest import HELD

    zh = i18n.translations("zh_CN").gettext
    assert all(kind_in(k, zh) != k for k in EVENT_KINDS)
    assert memo_in("reverses JY1#2 order_shipped", zh) == "冲销 JY1#2 订单发货"
    assert memo_in("prepayment refund 买家退订", zh) == "预收款退款 买家退订"
    assert memo_in("付给东莞皮具厂", zh) == "付给东莞皮具厂"  # a person's words
    assert memo_in("order paid", lambda m: m) == "order paid"
    poster.tick(demo_app.app.state.sessions, datetime.now(UTC) + timedelta(minutes=1))  # type: ignore[attr-defined]
    c = browser_client()
    for page in (
        "/web/finance?account=2203",
        f"/web/finance/orders?order_no={HELD}",
        f"/web/finance/statements?kind=buyer&party=buyer-{HELD[-3:]}",
    ):
        zh_page, en_page = c.get(page, headers=ZH).text, c.get(page, headers=EN).text
        assert "<td>订单付款</td>" in zh_page, page
        assert "order_paid" not in zh_page and "order paid" not in zh_page, page
        assert "<td>order_paid</td><td>order paid</td>" in en_page, page


def test_a_receipts_source_named_on_the_transfer_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A transfer's receipt booked on the API showed its source "api" on the Chinese page;
    now 接口或页面 (a node's receipt names the node by its id)."""
    from tests.cloud.web.test_transfer_pages import _api_transfer

    _api_transfer(demo_app, "TR-SRC-1", receive=1)
    c = browser_client()
    page = c.get("/web/stock/transfers/TR-SRC-1", headers=ZH).text
    row = re.search(r"<tr><td>TR-SRC-1-R1</td><td>(.*?)</td>", page)
    assert row and row.group(1) == "接口或页面", page
    assert (
        "<td>TR-SRC-1-R1</td><td>API or page</td>"
        in c.get("/web/stock/transfers/TR-SRC-1", headers=EN).text
    )


def test_a_channel_runs_no_answer_said_in_chinese() -> None:
    """A shop's run that could not reach the marketplace (cloud/channels/taobao/client.py
    ``Retryable``): the Chinese page says so, the call and the error's type kept; the English
    page and any other text as stored (found by tests/cloud/web/test_walk_browser.py)."""
    from cloud.web import i18n
    from cloud.web.channel_words import run_error_in

    zh, en = i18n.translations("zh_CN").gettext, i18n.translations("en").gettext
    said = "taobao.trades.sold.increment.get: no answer (ConnectError)"
    assert run_error_in(said, zh) == "taobao.trades.sold.increment.get：平台无应答（ConnectError）"
    assert run_error_in(said, en) == said
    for kept in ("isp.remote-service-error 服务不可用", "", None):
        assert run_error_in(kept, zh) == (kept or "")


def test_every_sentence_a_channel_client_writes_is_said_in_chinese() -> None:
    """Each failure sentence of the marketplace clients (cloud/channels/taobao/client.py,
    shopify/client.py) reads in Chinese on the zh page, and exactly as stored on the English
    one; Shopify's call has a space in it ("GET /admin/…")."""
    from cloud.web import i18n
    from cloud.web.channel_words import run_error_in

    zh, en = i18n.translations("zh_CN").gettext, i18n.translations("en").gettext
    shop = "GET /admin/api/2024-07/orders.json"
    cases = {
        f"{shop}: no answer (ReadTimeout)": f"{shop}：平台无应答（ReadTimeout）",
        "taobao.trade.fullinfo.get: HTTP 502 answered text/html, not JSON": (
            "taobao.trade.fullinfo.get：HTTP 502 返回的是 text/html，不是 JSON"
        ),
        "taobao.trades.sold.get: the answer is not one TOP envelope": (
            "taobao.trades.sold.get：应答不是单一的 TOP 响应结构"
        ),
        "taobao.trades.sold.get: the answer has no trades_sold_get_response": (
            "taobao.trades.sold.get：应答中没有 trades_sold_get_response"
        ),
        "taobao.trades.sold.get: an error_response that is not an object": (
            "taobao.trades.sold.get：error_response 不是对象"
        ),
        f"{shop}: 429, the shop's call bucket is full": f"{shop}：429，店铺的调用额度已用满",
        "taobao.trades.sold.get: TOP error 7 App Call Limited accesscontrol.limited-by-app-access-count": (
            "taobao.trades.sold.get：TOP 返回错误 7 App Call Limited"
            " accesscontrol.limited-by-app-access-count"
        ),
        f"{shop}: HTTP 503 {{'base': ['unavailable']}}": f"{shop}：HTTP 503 {{'base': ['unavailable']}}",
    }
    for stored, chinese in cases.items():
        assert run_error_in(stored, zh) == chinese, stored
        assert run_error_in(stored, en) == stored
