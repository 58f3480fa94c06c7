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
from tests.cloud.web.conftest import HELD, count_variance

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
    assert "盘点 C-1（rfid，partial）：1 条差异待审批：" in zh
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
