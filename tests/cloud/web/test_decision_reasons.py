"""An audit decision's reason in the page's language (issue 15, "zh_CN complete"; migration 0046).

A decision keeps its reason as a message id and parameters (cloud/orders/audit_rules.py
``Decision``) beside the English the API answers; the audit queue and the order's panel say
it again in Chinese or English, a condition's field and a nested reason included. A row
written before 0046 is given a message id where its English parses, and otherwise stays as
its English. Runs on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import html
import importlib
import re
from collections.abc import Callable
from datetime import UTC, datetime

from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from cloud.db.engine import alembic_config, migrate
from cloud.db.models import (
    Carrier,
    OrderDecision,
    OrderLog,
    Rule,
    SalesOrder,
    Sku,
    StockMovement,
    Warehouse,
)
from tests.cloud.conftest import login
from tests.cloud.web.conftest import AUDITED, HELD, NODE
from tests.cloud.web.test_task_details import _english_left
from tests.support.said import assert_migrated, assert_parsed_as

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
OLD_REMARK = "buyer remark needs a human: 旧的留言"
#: Composed from a rule's name and conditions: no parse is sure of it, so it stays English.
OLD_COMPOSED = "旧规则: total 99.0 gte 50 → SF"


def _cells(page: str) -> list[str]:
    """The reason cells of the audit queue and of the order's decision table."""
    queue = re.findall(r'<td class="reason">(.*?)</td>', page, re.S)
    rows = re.findall(r'<tr class="(?:pass|hold|add|skip|assign)">(.*?)</tr>', page, re.S)
    decisions = [re.findall(r"<td>(.*?)</td>", r, re.S)[3] for r in rows]
    assert decisions, page
    return [html.unescape(c).strip() for c in [*queue, *decisions]]


def test_reasons_in_the_page_language_and_old_rows_kept(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        held_id = s.execute(select(SalesOrder.id).where(SalesOrder.order_no == HELD)).scalar_one()
        known = {
            *s.execute(select(Sku.sku_code)).scalars(),
            *s.execute(select(Rule.name)).scalars(),
        }
        known |= {*s.execute(select(Carrier.code)).scalars()}
        known |= {*s.execute(select(Warehouse.code)).scalars(), HELD, AUDITED}
    c = browser_client()
    # A rule's conditions and a courier: the field by its label, the op in Chinese.
    audited = _cells(c.get(f"/web/audit?order={AUDITED}", headers=ZH).text)
    assert any("省 湖南" in x and "等于" in x for x in audited), audited
    for cell in audited:
        assert not _english_left(cell, known), (cell, _english_left(cell, known))
    # A hub before 0046 wrote its reasons in English only. Upgrading keeps them.
    before = ScriptDirectory.from_config(alembic_config(engine)).get_revision("0046")
    assert before is not None and isinstance(before.down_revision, str)
    command.downgrade(alembic_config(engine), before.down_revision)
    with engine.begin() as db:
        for reason in (OLD_REMARK, OLD_COMPOSED, "stock reserved"):
            db.execute(
                text(
                    'INSERT INTO order_decision (order_id, "check", outcome, reason, actor,'
                    " created_at) VALUES (:o, 'remark', 'pass', :r, 'old', :t)"
                ),
                {"o": held_id, "r": reason, "t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
    migrate(engine)
    with sessions() as s:
        old = {
            d.reason: (d.message, d.params)
            for d in s.execute(select(OrderDecision).where(OrderDecision.actor == "old")).scalars()
        }
    assert old == {
        OLD_REMARK: ("buyer remark needs a human: %(remark)s", {"remark": "旧的留言"}),
        OLD_COMPOSED: (None, None),
        "stock reserved": ("stock reserved", None),
    }
    zh = c.get(f"/web/audit?order={HELD}", headers=ZH).text
    cells = _cells(zh)
    assert "买家留言需人工处理：请发顺丰, 周末不在家" in cells, cells  # the queue and the panel
    assert "买家留言需人工处理：旧的留言" in cells and "库存已预留" in cells, cells
    assert OLD_COMPOSED in cells  # the old row that did not parse: its English, not empty
    with sessions() as s:
        # Rows of the downgraded hub whose English did not parse (the downgrade dropped the
        # message ids of the demo's composed courier reasons too): shown as they are.
        unparsed = {
            *s.execute(
                select(OrderDecision.reason).where(OrderDecision.message.is_(None))
            ).scalars()
        }
    assert OLD_COMPOSED in unparsed
    for cell in cells:
        if cell not in unparsed:
            assert not _english_left(cell, known), (cell, _english_left(cell, known))
    en = _cells(c.get(f"/web/audit?order={HELD}", headers=EN).text)
    assert "buyer remark needs a human: 请发顺丰, 周末不在家" in en, en
    # The API answers the English reason, as before, and nothing more.
    api = demo_app.get(
        f"/api/v1/orders/{HELD}", headers=login(demo_app, "admin", account="demo")
    ).json()
    assert OLD_COMPOSED in {d["reason"] for d in api["decisions"]}
    assert all("message" not in d for d in api["decisions"])


PICK1, PICK2 = "wh1-pick-1", "wh1-pick-2"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _history(page: str, column: int = 3) -> list[str]:
    """The reason cells (or another ``column``) of the order page's history table."""
    table = re.search(r"<caption>(?:操作历史|History)</caption>.*?<tbody>(.*?)</tbody>", page, re.S)
    assert table, page
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    return [html.unescape(re.findall(r"<td>(.*?)</td>", r, re.S)[column]).strip() for r in rows]


def test_an_orders_history_in_the_page_language(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """An order walked through release, lease moves, a node's fact, 撤销出库, hold and unhold,
    驳回, an edit, split, merge, save, release in a wave, ship and 冲销出库: on the Chinese page
    no line of its history is left in English, a person's words shown as typed; the English
    page and the API say the English the hub always wrote."""
    from cloud.nodes import ownership
    from cloud.sync import assignment
    from tests.cloud.orders.test_pick_lease import picked, send, started

    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    admin = login(demo_app, "admin", account="demo")
    no, url = AUDITED, f"/api/v1/orders/{AUDITED}"

    def act(path: str, body: object = None) -> dict[str, object]:
        r = demo_app.post(url + path, headers=admin, json=body)
        assert r.status_code == 200, (path, r.text)
        return dict(r.json())

    act("/release")  # the warehouse has no pick node yet
    now = datetime.now(UTC)
    with sessions() as s, s.begin():
        account = s.execute(select(SalesOrder.account_id).where(SalesOrder.order_no == no))
        a = account.scalar_one()
        for node in (PICK1, PICK2):
            ownership.enroll(s, node, "demo", "test", now)
            assignment.assign_node(s, a, node, "WH1", "test", now)
    for node in (PICK1, PICK2):
        send(engine, node, 1, started("pick"))
    act("/pick-node", {"node": PICK1, "reason": "补上拣货节点"})
    version = act("/pick-node", {"node": PICK2, "reason": "一号机坏了"})["version"]
    assert isinstance(version, int)
    send(engine, PICK2, 2, picked(no, version, 2))  # the holder picked it
    act("/cancel-outbound", {"reason": "买家改地址"})
    act("/hold", {"reason": "等买家回电"})
    act("/unhold", {"note": "已回电"})
    act("/reject", {"reason": "重新审核"})
    demo_app.patch(url, headers=admin, json={"seller_carrier": "SF"}).raise_for_status()
    child = demo_app.post(
        url + "/split", headers=admin, json={"lines": [{"line_id": "1", "qty": 1}]}
    ).json()["order_no"]
    r = demo_app.post(f"/api/v1/orders/{child}/hold", headers=admin, json={"reason": "等补货"})
    assert r.status_code == 200, r.text
    r = demo_app.post("/api/v1/orders/merge", headers=admin, json={"order_nos": [no, child]})
    assert r.status_code == 200, r.text
    # The merged-in hold, composed by the merge: said in Chinese on the panel and the queue.
    assert r.json()["hold_reason"] == f"{child}: 等补货"
    held = f'<span class="held">挂起: {child}：等补货</span>'
    c = browser_client()
    assert held in c.get(f"/web/orders/{no}", headers=ZH).text
    assert f'<td class="reason">{child}：等补货</td>' in c.get("/web/audit", headers=ZH).text
    act("/unhold", {"note": "货到了"})
    act("/save")
    act("/confirm", {"note": "核对无误"})
    act("/audit")
    act("/release", {"wave": "W-1"})
    act("/ship")
    act("/reverse-outbound", {"reason": "快递丢件"})

    with sessions() as s:
        known = {
            no,
            child,
            NODE,
            PICK1,
            PICK2,
            "W-1",
            *s.execute(select(Sku.sku_code)).scalars(),
            *s.execute(select(Carrier.code)).scalars(),
            *s.execute(select(Warehouse.code)).scalars(),
        }
    page = c.get(f"/web/orders/{no}", headers=ZH).text
    # The panel's parsed address is a sentence too (it showed as a Python dict before).
    assert "地址解析为" in page and "msgid" not in page
    zh = _history(page)
    assert len(zh) >= 20, zh
    actions = _history(page, 0)  # the actions too: an edit, a node's fact by its type
    assert "修改" in actions and not [a for a in actions if _english_left(a, known)], actions
    for cell in zh:
        left = _english_left(UUID.sub(" ", cell), known)
        assert not left, (cell, left, zh)
    assert "没有已知的拣货节点" in zh, zh
    assert f"拣货指派 无 → {PICK1}：补上拣货节点" in zh, zh
    assert f"拣货指派 {PICK1} → {PICK2}：一号机坏了" in zh, zh
    assert f"商品行已移至 {child}" in zh and f"已合并 {child}" in zh, zh
    assert {"买家改地址", "等买家回电", "已回电", "重新审核", "快递丢件"} <= set(zh), zh
    assert "淘宝订单" in zh or "手工单" in zh, zh
    child_zh = _history(c.get(f"/web/orders/{child}", headers=ZH).text)
    assert f"拆分自 {no}" in child_zh and f"已合并到 {no}" in child_zh, child_zh
    en = _history(c.get(f"/web/orders/{no}", headers=EN).text)
    api = demo_app.get(url, headers=admin).json()
    assert [h["reason"] or "" for h in api["history"]] == en  # the same English, both
    assert all(set(h) == {"action", "from_status", "to_status", "reason", "actor", "at"}
               for h in api["history"])  # fmt: skip
    assert "no pick node known" in en
    assert f"pick lease none → {PICK1}: 补上拣货节点" in en
    assert f"pick lease {PICK1} → {PICK2}: 一号机坏了" in en
    assert any(x.startswith("wave W-1, ") for x in en), en
    assert any(x.startswith("event ") and x.endswith(f"(version {version})") for x in en), en
    # The order's ledger movements on the SKU's movements page (migration 0051): a reservation,
    # the node's pick and its reversal (撤销出库), the split's and merge's releases, the ship
    # and 冲销出库, none left in English.
    from tests.cloud.web.test_movement_reasons import _column

    with sessions() as s:
        moved = s.execute(
            select(StockMovement.sku_code).where(StockMovement.document.in_([f"order:{no}", f"order:{child}"]))
        ).scalars().all()  # fmt: skip
    assert moved
    reasons = []
    for sku in sorted(set(moved)):
        cells = _column(c.get("/web/stock/movements", params={"sku": sku}, headers=ZH).text, 7)
        reasons += cells
        for cell in cells:
            assert not _english_left(cell, known | {"user:admin"}), (cell, cells)
    assert f"由 {PICK2} 拣货" in reasons and "撤销出库：买家改地址" in reasons, reasons
    assert "冲销出库：快递丢件" in reasons and f"已拆分为 {no}-S1" in reasons, reasons


MIGRATION = importlib.import_module("cloud.db.migrations.versions.0048_history_message")
#: English the hub wrote before 0048, by table and action: each parses as a sentence that says
#: the same English again (None: it stays as stored).
OLD_LINES = [
    ("order_log", "create", "taobao order", "淘宝订单"),
    ("order_log", "create", "manual order", "手工单"),
    ("order_log", "confirm", "all checks passed", "全部检查通过"),
    ("order_log", "release", "no pick node known", "没有已知的拣货节点"),
    (
        "order_log",
        "release",
        "wave W-9, waybill to draw from SF's e-waybill service, pick node wh1-pick-1",
        "波次 W-9，面单号待从 SF 的电子面单服务获取，拣货节点 wh1-pick-1",
    ),
    (
        "order_log",
        "pick_node",
        "pick lease none → wh1-pick-1: 坏了",
        "拣货指派 无 → wh1-pick-1：坏了",
    ),
    ("order_log", "split", "lines moved to JY9-S1", "商品行已移至 JY9-S1"),
    ("order_log", "merge", "merged into JY9", "已合并到 JY9"),
    ("order_log", "merge", "merged JY8, JY7", "已合并 JY8, JY7"),
    ("order_log", "edit", "warehouse → WH2, seller_note", "仓库 → WH2，卖家备注"),
    ("order_log", "edit", "no change", "无改动"),
    ("order_log", "waybill", "offline waybill 7788 given back", "离线面单号 7788 已回收"),
    ("order_log", "hold", "e-waybill not drawn: 余额不足", "电子面单未取到号：余额不足"),
    (
        "order_log",
        "order.picked",
        "event 0b3c2b7e-54b5-4c43-9a0e-2f1d3c4b5a69 (version 3)",
        "事件 0b3c2b7e-54b5-4c43-9a0e-2f1d3c4b5a69（版本 3）",
    ),
    (
        "aftersales_log",
        "receive",
        "receipt R-1: line 1: sellable 1, damaged 0, missing 0, line 2: sellable 0, damaged 1,"
        " missing 1",
        "收货单 R-1：第 1 行：可售 1，坏品 0，缺件 0，第 2 行：可售 0，坏品 1，缺件 1",
    ),
    ("aftersales_log", "close", "refund only: nothing comes back", "仅退款：无需退货"),
    ("aftersales_log", "exchange", "exchange order JY9-X1", "换货单 JY9-X1"),
    # A person's words, whatever they say, and English no parse is sure of: as stored.
    ("order_log", "reject", "merged into JY9", None),
    ("order_log", "save", "stock short: x; street address too short", None),
    ("order_log", "release", "wave W-9 pick node", None),
    ("aftersales_log", "receive", "receipt R-1: line 1: sellable 1", None),
]


def test_old_history_lines_parse_as_the_same_english() -> None:
    assert_parsed_as((MIGRATION.parse(t, a, en), en, zh) for t, a, en, zh in OLD_LINES)


def test_old_history_lines_migrated_on_upgrade(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A hub before 0048 wrote its history in English only: upgrading gives the lines that
    parse a message id (the order page says them in Chinese), the rest shown as stored."""
    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        order_id = s.execute(select(SalesOrder.id).where(SalesOrder.order_no == HELD)).scalar_one()
    command.downgrade(alembic_config(engine), "0047")
    lines = [x for x in OLD_LINES if x[0] == "order_log"]
    with engine.begin() as db:
        for _, action, english, _ in lines:
            db.execute(
                text(
                    "INSERT INTO order_log (order_id, action, from_status, to_status, reason,"
                    " actor, at) VALUES (:o, :a, 'saved', 'saved', :r, 'old', :t)"
                ),
                {"o": order_id, "a": action, "r": english, "t": datetime(2030, 1, 1, tzinfo=UTC)},
            )
    migrate(engine)
    with sessions() as s:
        rows = s.execute(
            select(OrderLog.reason, OrderLog.message)
            .where(OrderLog.actor == "old")
            .order_by(OrderLog.id)
        ).all()
    assert_migrated(rows, [(english, chinese) for _, _, english, chinese in lines])
    zh = _history(browser_client().get(f"/web/orders/{HELD}", headers=ZH).text)
    assert zh[-len(lines) :] == [chinese or english for _, _, english, chinese in lines]


def test_a_channels_hold_in_the_page_language(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A refund asked on the channel holds the order and a withdrawn one lifts the hold
    (cloud/channels/changes.py): the "held" line and the history in Chinese, the API's
    hold reason and history in English as before."""
    from cloud.channels import changes
    from cloud.db.models import ChannelShop
    from tests.cloud.web.test_channel_pages import seed_shop

    seed_shop(demo_app)
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]

    def refund(status: str) -> None:
        with sessions() as s, s.begin():
            shop = s.execute(select(ChannelShop).where(ChannelShop.code == "tb1")).scalar_one()
            o = s.execute(select(SalesOrder).where(SalesOrder.order_no == AUDITED)).scalar_one()
            now = datetime.now(UTC)
            changes.refund(s, shop, "T-1", o, "RF-1", "O-1", status, now, payload={})

    refund("WAIT_SELLER_AGREE")
    c = browser_client()
    page = c.get(f"/web/orders/{AUDITED}", headers=ZH).text
    said = "渠道上有退款：子订单 O-1 WAIT_SELLER_AGREE"
    assert f'<span class="held">挂起: {said}</span>' in page, page
    assert said in _history(page)
    refund("CLOSED")
    assert "退款已撤销" in _history(c.get(f"/web/orders/{AUDITED}", headers=ZH).text)
    api = demo_app.get(
        f"/api/v1/orders/{AUDITED}", headers=login(demo_app, "admin", account="demo")
    ).json()
    reasons = [h["reason"] for h in api["history"]]
    assert "refund on the channel: line O-1 WAIT_SELLER_AGREE" in reasons
    assert reasons[-1] == "refund withdrawn" and api["on_hold"] is False
    # The shop page's changes: our own sentences said in Chinese (migration 0051), the API's
    # detail the English as before.
    shop_page = c.get("/web/channels/tb1", headers=ZH).text
    details = [
        html.unescape(d).strip() for d in re.findall(r'<td class="detail">(.*?)</td>', shop_page, re.S)
    ]  # fmt: skip
    assert "渠道上有退款：子订单 O-1 WAIT_SELLER_AGREE" in details, details
    assert "渠道上有退款：子订单 O-1 CLOSED" in details, details
    assert not [d for d in details if d.startswith("refund on the channel")], details
