"""A task's detail in the page's language (issue 15, "zh_CN complete"; migration 0038).

A task keeps its sentence as a message id and parameters (cloud/tasks.py) beside the
English detail the API answers; the tasks page says it again in Chinese or English, a
nested refusal and a status word included. A task opened before migration 0038 (no message
id) stays readable: its English detail. Runs on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from cloud import tasks
from cloud.db.engine import alembic_config, migrate, transaction
from cloud.db.models import Account, Task
from cloud.errors import N_, ConflictError
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, NODE, count_variance

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
OLD = "order JY-OLD weighed 900 g, expected 450 g (opened before 0038)"


def test_task_details_translated_and_old_rows_kept(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
    # A hub at 0037 opened a task: English only. Upgrading keeps it.
    command.downgrade(alembic_config(engine), "0037")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO task (public_id, account_id, kind, detail, status, created_at)"
                " VALUES (:p, :a, 'weight', :d, 'open', :t)"
            ),
            {"p": str(uuid.uuid4()), "a": account, "d": OLD, "t": datetime.now(UTC)},
        )
    migrate(engine)
    count_variance(demo_app)  # opened by ingest, as a node's count reaches the hub
    refused = ConflictError(
        N_("order %(order)s is %(status)s; confirm needs a saved order"),
        order=HELD,
        status="audited",
    )
    with transaction(sessions) as s:
        old = s.execute(select(Task).where(Task.detail == OLD)).scalar_one()
        assert old.message is None and old.params is None
        t = tasks.open_task(
            s,
            account,
            "stocktake",
            N_("count %(count)s: %(why)s; nothing booked"),
            datetime.now(UTC),
            params={"count": "C-9", "why": tasks.said(refused)},
        )
        assert t.detail == (
            f"count C-9: order {HELD} is audited; confirm needs a saved order; nothing booked"
        )
        assert t.params == {
            "count": "C-9",
            "why": {"msgid": refused.msgid, "params": {"order": HELD, "status": "audited"}},
        }
    c = browser_client()
    zh = c.get("/web/tasks", headers=ZH).text
    assert "盘点 C-1（RFID，部分盘点）：1 条差异待审批：" in zh
    assert f"盘点 C-9：订单 {HELD} 的状态是 已审核；只有已保存的订单可以确认；未记账" in zh
    assert OLD in zh  # the old row: its English, not an empty cell
    assert "variance(s) to approve" not in zh and "nothing booked" not in zh
    en = c.get("/web/tasks", headers=EN).text
    assert "count C-1 (rfid, partial) by wh1-pack-1: 1 variance(s) to approve: " in en
    assert f"count C-9: order {HELD} is audited; confirm needs a saved order" in en
    # The API answers the English detail, as before.
    api = demo_app.get("/api/v1/tasks", headers=login(demo_app, "admin", account="demo")).json()
    details = {t["kind"]: t["detail"] for t in api}
    assert details["weight"] == OLD
    assert details["count_variance"].startswith("count C-1 (rfid, partial) by wh1-pack-1: 1 ")
    assert "nothing booked" in details["stocktake"]


def test_a_broken_translation_falls_back_to_english() -> None:
    params = {"order": "JY1", "grams": 900, "expected": 450}
    message = N_("order %(order)s weighed %(grams)s g, expected %(expected)s g")
    assert (
        tasks.say(message, params, lambda m: "订单 %(nope)s")
        == "order JY1 weighed 900 g, expected 450 g"
    )
    lines = [tasks.sentence(N_("line %(line)s: %(n)s missing"), line=1, n=2), "x"]
    assert tasks.say("%(lines)s", {"lines": lines}) == "line 1: 2 missing; x"


def _english_left(text: str, known: set[str]) -> list[str]:
    """Words of English in ``text`` once the codes it names (SKU codes, nodes, orders,
    bins, warehouses: ``known``) are taken out."""
    import re

    for code in sorted(known, key=len, reverse=True):
        text = text.replace(code, " ")
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w != "RFID"]


def test_nested_reasons_translated_all_the_way_down(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The ledger's negative-stock reason inside a task, a fact's type name, a count's
    method and scope: none stays English inside the Chinese page (issue 15)."""
    import html
    import re

    from cloud.db.models import BinLevel, Node, Sku, Warehouse
    from cloud.errors import ConflictError
    from cloud.stock import ledger
    from cloud.web import i18n
    from tests.cloud.orders.test_pick_lease import picked, send

    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    tid = count_variance(demo_app)  # the node counted one less than the book says
    with transaction(sessions) as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        level = s.execute(select(BinLevel).where(BinLevel.qty > 1)).scalars().first()
        assert level is not None
        b, sku, qty = level.bin_code, level.sku_code, level.qty
        # the bin emptied before the lead approves: booking the count overrides the ledger
        ledger.adjust(
            s, account, "WH1", sku, -qty, "moved", "test", datetime.now(UTC), bin_code=b,
            override=True,
        )  # fmt: skip
    c = browser_client()
    r = c.post(f"/web/tasks/{tid}", data={"csrf": c.csrf, "resolution": "ok", "approve": "yes"})  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    send(engine, NODE, 2, picked("JY-NOBODY", 1, 1))  # a fact for an order the hub lacks
    with sessions() as s:
        known = {"JY-NOBODY", "C-1", b, *s.execute(select(Sku.sku_code)).scalars()}
        known |= {*s.execute(select(Node.node_id)).scalars()}
        known |= {*s.execute(select(Warehouse.code)).scalars()}
    zh = c.get("/web/tasks", headers=ZH).text
    cells = [html.unescape(t) for t in re.findall(r'<td class="detail">(.*?)</td>', zh, re.S)]
    assert len(cells) >= 2, zh
    joined = "\n".join(cells)
    assert f"仓库 WH1 中 {sku} 的在库数量将变为 -1" in joined, joined
    assert f"{NODE} 发来订单 JY-NOBODY 的拣货回报" in joined, joined
    for cell in cells:
        assert not _english_left(cell, known), (cell, _english_left(cell, known))
    en = "\n".join(
        html.unescape(t)
        for t in re.findall(r'<td class="detail">(.*?)</td>', c.get("/web/tasks", headers=EN).text)
    )
    assert f"stock on hand of {sku} in warehouse WH1 would be -1" in en, en
    assert f"order.picked from {NODE} for order JY-NOBODY" in en
    # a refusal carrying the ledger's reason: the same, on any page that shows it
    with sessions() as s:
        try:
            ledger.adjust(s, account, "WH1", sku, -1, "x", "test", datetime.now(UTC), bin_code=b)
        except ConflictError as err:
            refused = err
        else:
            raise AssertionError("an empty bin gave a unit")
    said = refused.translated(i18n.translations("zh_CN").gettext)
    assert said.startswith("库存将变为负数：仓库 WH1 ") and not _english_left(
        said.replace("stock:override", ""), known
    ), said
    assert f"of {sku} in warehouse WH1 would be -2" in str(refused)  # the API's English


def test_every_fact_type_is_a_word_the_catalogue_knows() -> None:
    from cloud.facts import TASK_WORDS
    from cloud.web import i18n
    from protocol.messages import EVENT_TYPES

    assert set(EVENT_TYPES) <= set(TASK_WORDS)
    zh = i18n.translations("zh_CN").gettext
    assert all(zh(w) != w for w in TASK_WORDS if w != "rfid")


def test_a_resolution_the_hub_wrote_is_translated_a_persons_shown_as_typed(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A task that closed by itself (cloud/orders/pool_overdue.py, migration 0054) says its
    closing line in the page's language; a person's resolution stays as typed."""
    from cloud.orders import pool_overdue

    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    params = {"carrier": "ZTO", "node": NODE, "back": 2, "used": 1, "forced": 0}
    with transaction(sessions) as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        for kind, line, said in (
            ("waybill_pool_overdue", "by the hub", pool_overdue.CLOSED),
            ("weight", "重新称过了，没问题 <b>ok</b>", None),
        ):
            t = tasks.open_task(s, account, kind, N_("no pick node known"), now)
            t.status, t.resolved_by, t.resolved_at = "done", "hub" if said else "lead", now
            t.resolution = tasks.say(said, params) if said else line
            t.resolution_message, t.resolution_params = said, params if said else None
    c = browser_client()
    zh = c.get("/web/tasks?status=done", headers=ZH).text
    assert "已由中心自动关闭" in zh and "节点交回 2 个" in zh, zh
    assert "closed by the hub" not in zh
    assert "重新称过了，没问题 &lt;b&gt;ok&lt;/b&gt;" in zh  # as typed, as text
    en = c.get("/web/tasks?status=done", headers=EN).text
    assert f"closed by the hub: every ZTO number node {NODE} was asked back is answered" in en
