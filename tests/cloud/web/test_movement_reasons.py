"""A ledger movement's reason in the page's language (issue 15, "zh_CN complete"; migration 0051).

Each writer of a movement gives a sentence (cloud/errors.py ``sentence``) kept as its message
id and parameters beside the English the API answers (``written``), or a person's words as
typed; the movements page says it in Chinese or English. A row written before 0051 is given a
message id where its English parses, else it stays as its English. The hub's own actors
("auto-audit") are named in the page's language; people and nodes as they are. Runs on SQLite
and PostgreSQL (``db_url``)."""

from __future__ import annotations

import html
import importlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from cloud.db.engine import alembic_config, migrate
from cloud.db.models import Account, Node, PurchaseOrderLine, StockMovement, Warehouse
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, count_variance
from tests.cloud.web.test_task_details import _english_left
from tests.support.said import assert_migrated, assert_parsed_as

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
SKU = "MV-走账"
#: The API's movement, as it has always been (cloud/api/schemas.py ``MovementOut``).
API_FIELDS = {
    "id", "warehouse", "sku_code", "kind", "bucket", "qty_delta", "reserved_delta", "bin_code",
    "bin_delta", "reason", "document", "actor", "created_at", "reverses_id", "event_key",
    "override",
}  # fmt: skip


def _column(page: str, n: int) -> list[str]:
    """Column ``n`` of the movements table (7: the reason, 8: who)."""
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    assert body, page
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [html.unescape(re.findall(r"<td>(.*?)</td>", r, re.S)[n]).strip() for r in rows]


def _ok(r: Any) -> Any:
    assert r.status_code < 300, r.text
    return r.json()


def test_movement_reasons_in_the_page_language(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A walk that writes each kind of movement of one SKU (a receipt, a transfer, a person's
    adjustment, reservations, a ship, a cancel, a warehouse change, a return with damage, a
    PO receipt with a QC fail and its cancellation, a stocktake's variance): on the Chinese
    movements page no reason is left in English, a person's words shown as typed; the
    English page says what the API says, and the API's shape is as before."""
    api = login(demo_app, "admin", account="demo")
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]

    def post(path: str, body: object = None) -> Any:
        return _ok(demo_app.post(f"/api/v1{path}", headers=api, json=body))

    _ok(
        demo_app.put(
            f"/api/v1/skus/{SKU}",
            headers=api,
            json={"sku_code": SKU, "name": "走账", "barcodes": ["69MV1"]},
        )
    )
    post("/stock/receipts", {"warehouse": "WH1", "sku_code": SKU, "qty": 30})  # "receipt"
    post("/stock/transfers", {"from_warehouse": "WH1", "to_warehouse": "BCP", "sku_code": SKU, "qty": 2})  # fmt: skip
    post("/stock/adjustments", {"warehouse": "WH1", "sku_code": SKU, "delta": -1, "reason": "摔坏了一个"})  # fmt: skip

    def order(no: str) -> str:
        line = {"line_id": "1", "sku_code": SKU, "qty": 3, "price_cents": 1999}
        body = {"order_no": no, "buyer_nick": "走账", "lines": [line], "warehouse": "WH1"}
        body["recipient"] = {
            "name": "张三", "phone": "13800138000", "province": "广东省", "city": "深圳市",
            "district": "南山区", "address": "科技园路1号",
        }  # fmt: skip
        post("/orders", {"orders": [body]})
        return no

    shipped, cancelled, moved = order("MV-1"), order("MV-2"), order("MV-3")
    post(f"/orders/{shipped}/release")
    post(f"/orders/{shipped}/ship")
    post(f"/orders/{cancelled}/cancel", {"reason": "买家不要了"})
    post(f"/orders/{moved}/reject", {"reason": "仓库有误"})
    _ok(demo_app.patch(f"/api/v1/orders/{moved}", headers=api, json={"warehouse": "BCP"}))
    # A return: one unit back sellable, one damaged with the checker's words.
    ret = {"order_no": shipped, "kind": "return", "lines": [{"order_line_id": "1", "qty": 2}]}
    number = post("/aftersales", ret)["number"]
    post(f"/aftersales/{number}/approve", {"note": "寄回"})
    line = {"line_no": 1, "sku_code": SKU, "sellable": 1, "damaged": 1, "missing": 0}
    receipt = {"receipt_id": f"RR-{number}", "warehouse": "WH1", "lines": [line | {"reason": "屏幕碎了"}]}  # fmt: skip
    post(f"/aftersales/{number}/receive", receipt)
    # A purchase order's receipt with a QC fail, then that line's receipt cancelled (取消入库).
    post("/suppliers", {"code": "MV-SUP", "name": "走账厂", "contact": "王"})
    po = {"number": "PO-MV-1", "warehouse": "WH1", "supplier": "MV-SUP", "tolerance_pct": "0"}
    post("/purchase-orders", po | {"lines": [{"sku_code": SKU, "qty": 10, "unit_price": "1"}]})
    post("/purchase-orders/PO-MV-1/confirm")
    lines = [
        {"sku_code": SKU, "qty": 8, "verdict": "pass"},
        {"sku_code": SKU, "qty": 2, "verdict": "fail", "reason": "外壳裂了"},
    ]
    ids = post("/purchase-orders/PO-MV-1/receipts", {"receipt_id": "RC-MV-1", "warehouse": "WH1", "lines": lines})["movement_ids"]  # fmt: skip
    with sessions() as s:
        rejected = s.execute(select(PurchaseOrderLine.rejected)).scalars().all()
        assert 2 in rejected
    post(f"/stock/movements/{ids[1]}/cancel-receipt", {"reason": "点错了"})
    with sessions() as s:  # the QC fail's units are no longer rejected (its message id)
        assert s.execute(
            select(PurchaseOrderLine.rejected, PurchaseOrderLine.received).where(
                PurchaseOrderLine.sku_code == SKU
            )
        ).one() == (0, 8)
    # A stocktake's variance, approved by the lead: booked as the count's adjustment.
    tid = count_variance(demo_app)
    c = browser_client()
    r = c.post(f"/web/tasks/{tid}", data={"csrf": c.csrf, "resolution": "ok", "approve": "yes"})  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text

    with sessions() as s:
        counted = s.execute(
            select(StockMovement.sku_code).where(StockMovement.document.startswith("count:"))
        ).scalar_one()
        known = {
            SKU,
            counted,
            shipped,
            cancelled,
            moved,
            number,
            "PO-MV-1",
            "RC-MV-1",
            "admin",  # a person by their login
        }
        known |= {f"RR-{number}", *s.execute(select(Warehouse.code)).scalars()}
        known |= {*s.execute(select(Node.node_id)).scalars()}
    zh_rows: list[str] = []
    for sku in (SKU, counted):
        page = c.get("/web/stock/movements", params={"sku": sku}, headers=ZH).text
        zh, who = _column(page, 7), _column(page, 8)
        zh_rows += zh
        for cell in zh + who:
            assert not _english_left(re.sub(r"C-\d+", " ", cell), known), (cell, zh)
        en = _column(c.get("/web/stock/movements", params={"sku": sku}, headers=EN).text, 7)
        moves = _ok(demo_app.get("/api/v1/stock/movements", headers=api, params={"sku_code": sku}))
        assert [m["reason"] for m in moves][: len(en)] == en  # the same English, both
        assert all(set(m) == API_FIELDS for m in moves), moves[0]
        if sku == SKU:
            assert {
                "receipt", "transfer", "摔坏了一个", "order reserves stock", "shipped",
                "cancelled: 买家不要了", "warehouse changed to BCP", f"return {number}",
                "QC fail: 外壳裂了", "PO receipt RC-MV-1", "取消入库: 点错了",
            } <= set(en), en  # fmt: skip
            assert any(x.startswith(f"return {number} damaged") for x in en), en
    assert {
        "收货单", "调拨", "摔坏了一个", "订单占用库存", "已发货", "已取消：买家不要了",
        "仓库改为 BCP", f"退货 {number}", "质检不合格：外壳裂了", "采购收货 RC-MV-1",
        "取消入库：点错了",
    } <= set(zh_rows), zh_rows  # fmt: skip
    assert any(x.startswith(f"退货 {number} 坏品") and x.endswith("屏幕碎了") for x in zh_rows)
    assert any(x.startswith("盘点 C-") and "实盘" in x for x in zh_rows), zh_rows


def test_the_hubs_actors_and_a_hold_without_reason_in_the_page_language(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The audit's decisions were made by "auto-audit": the Chinese page names it 自动审核,
    the English one by its code as the API does; a hold given no reason says 手动挂起."""
    from cloud.orders import workflow
    from cloud.orders.reasons import SYSTEM_ACTORS, actor_in
    from cloud.web import i18n

    zh = i18n.translations("zh_CN").gettext
    assert all(actor_in(a, zh) != a for a in SYSTEM_ACTORS)
    assert actor_in("node:wh1-pick-1", zh) == "节点 wh1-pick-1" and actor_in("张三", zh) == "张三"
    assert actor_in("user:admin", zh) == "admin"  # a person by their login, no "user:"
    assert actor_in("auto-audit", lambda m: m) == "auto-audit"
    assert actor_in("user:admin", lambda m: m) == "admin"  # an English page: the login too
    from cloud.errors import say

    assert say("by %(by)s", {"by": "user:admin"}) == "by user:admin"  # as the API says it
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    c = browser_client()
    page = c.get(f"/web/orders/{HELD}", headers=ZH).text
    assert "<td>自动审核</td>" in page and "<td>auto-audit</td>" not in page
    assert "<td>auto-audit</td>" in c.get(f"/web/orders/{HELD}", headers=EN).text
    with sessions() as s, s.begin():
        a = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        workflow.set_hold(s, a, HELD, False, None, "test", datetime.now(UTC))
        workflow.set_hold(s, a, HELD, True, None, "test", datetime.now(UTC))
    assert "挂起: 手动挂起</span>" in c.get(f"/web/orders/{HELD}", headers=ZH).text
    assert "held by hand" in c.get(f"/web/orders/{HELD}", headers=EN).text


MIGRATION = importlib.import_module("cloud.db.migrations.versions.0051_movement_message")
#: English the hub wrote before 0051, by kind: each parses as a sentence that says the same
#: English again (None: it stays as stored).
OLD_REASONS = [
    ("reservation", "order reserves stock", "订单占用库存"),
    ("reservation", "gift reserves stock", "赠品占用库存"),
    ("release", "split into JY9-S1", "已拆分为 JY9-S1"),
    ("release", "merged into JY9", "已合并到 JY9"),
    ("release", "warehouse changed to WH2", "仓库改为 WH2"),
    ("release", "cancelled: 买家不要了", "已取消：买家不要了"),
    ("ship", "shipped", "已发货"),
    ("pick", "picked by 张三", "由 张三 拣货"),
    ("receipt", "receipt", "收货单"),
    ("receipt", "QC fail: 裂了", "质检不合格：裂了"),
    ("receipt", "PO receipt RC-1", "采购收货 RC-1"),
    ("transfer", "transfer", "调拨"),
    ("transfer", "QC fail: 湿了", "质检不合格：湿了"),
    ("transfer", "transfer receipt TRC-1", "调拨收货 TRC-1"),
    ("transfer", "transfer TR-1: the rest shipped from the hub", "调拨单 TR-1：余下的由总部发出"),
    ("transfer", "transfer TR-1 shipped by 李四", "调拨单 TR-1 由 李四 发出"),
    ("transfer", "transfer TR-1 shipped", "调拨单 TR-1 已发出"),
    ("return", "return AS-1", "退货 AS-1"),
    ("return", "return AS-1 damaged: 碎了", "退货 AS-1 坏品：碎了"),
    (
        "return",
        "return AS-1 damaged, received at WH1: 碎了",
        "退货 AS-1 坏品，在 WH1 收货：碎了",
    ),
    (
        "adjust",
        "stocktake C-1 (scanner, full): counted 3, expected 5",
        "盘点 C-1（扫码枪，全盘）：实盘 3，账面 5",
    ),
    ("reversal", "cancelled: 不发了", "已取消：不发了"),
    ("reversal", "outbound cancelled: 改地址", "撤销出库：改地址"),
    ("reversal", "冲销出库: 丢件", "冲销出库：丢件"),
    ("reversal", "取消入库: 点错", "取消入库：点错"),
    ("reversal", "取消入库 TRC-1: 点错", "取消入库 TRC-1：点错"),
    ("reversal", "冲销出库 TR-1: 丢件", "冲销出库 TR-1：丢件"),
    # A person's words and English no parse is sure of: as stored.
    ("adjust", "order reserves stock", None),
    ("adjust", "盘点调整", None),
    ("reversal", "wrong PO", None),
    ("receipt", "bench stock", None),
]


#: A channel change's detail before 0051, by the change's kind (None: as stored).
OLD_CHANGES = [
    ("cancel", "closed on the channel (TRADE_CLOSED)", "已在渠道上关闭（TRADE_CLOSED）"),
    ("refund", "refund on the channel: line O-1 WAIT_SELLER_AGREE", "渠道上有退款：子订单 O-1 WAIT_SELLER_AGREE"),
    ("refund_ended", "refund on the channel: line O-1 CLOSED", "渠道上有退款：子订单 O-1 CLOSED"),
    ("address", "address changed", "地址已改"),
    ("address", "address changed; order shipped", "地址已改；订单已发货"),
    (
        "address",
        "the buyer changed the address on the channel after the audit: reject it (驳回) and edit",
        "买家在审核后于渠道上改了地址：请驳回后修改",
    ),
    ("address", "receiver_address is missing", None),  # the trade's data, as it stood
]  # fmt: skip


def test_old_channel_change_details_parse_as_the_same_english() -> None:
    assert_parsed_as(
        (MIGRATION.parse(kind, en, "channel_change"), en, zh) for kind, en, zh in OLD_CHANGES
    )


def test_old_movement_reasons_parse_as_the_same_english() -> None:
    assert_parsed_as((MIGRATION.parse(kind, en), en, zh) for kind, en, zh in OLD_REASONS)


def test_old_movements_migrated_on_upgrade(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A hub before 0051 kept its movements' reasons in English only: upgrading gives the ones
    that parse a message id (the movements page says them in Chinese), the rest shown as
    stored; a QC fail's receipt is known as one by its message id afterwards."""
    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        a = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        wh = s.execute(select(Warehouse.id).where(Warehouse.code == "WH1")).scalar_one()
    command.downgrade(alembic_config(engine), "0050")
    with engine.begin() as db:
        for n, (kind, english, _) in enumerate(OLD_REASONS):
            db.execute(
                text(
                    "INSERT INTO stock_movement (id, account_id, warehouse_id, sku_code, kind,"
                    " bucket, qty_delta, reserved_delta, bin_delta, reason, document, actor,"
                    " created_at, override) VALUES (:id, :a, :w, 'OLD-1', :k, 'sellable', 0, 0,"
                    " 0, :r, 'old', 'old', :t, :f)"
                ),
                {
                    "id": f"00000000-0000-0000-0000-{n:012d}",
                    "a": a,
                    "w": wh,
                    "k": kind,
                    "r": english,
                    "t": datetime(2030, 1, 1, 0, 0, n, tzinfo=UTC),
                    "f": False,
                },
            )
    migrate(engine)
    with sessions() as s:
        rows = s.execute(
            select(StockMovement.reason, StockMovement.message)
            .where(StockMovement.sku_code == "OLD-1")
            .order_by(StockMovement.created_at)
        ).all()
    assert_migrated(rows, [(english, chinese) for _, english, chinese in OLD_REASONS])
    page = browser_client().get("/web/stock/movements", params={"sku": "OLD-1"}, headers=ZH)
    assert _column(page.text, 7) == [chinese or english for _, english, chinese in OLD_REASONS]
