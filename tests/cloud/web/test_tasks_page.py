"""The tasks page (issue 15, "Tasks: the human queue"): each task's kind named in the page's
language, the queue filtered by kind with how many of each kind are open (this seller's
only), the API's list filtered the same way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud import tasks
from cloud.db.models import Account
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, add_user, count_variance

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


def test_task_kinds_named_counted_and_filtered(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    variance = count_variance(demo_app)
    add_user(demo_app, "other", "admin2", "admin")
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        ids = {name: i for name, i in s.execute(select(Account.name, Account.id))}
        now = datetime.now(UTC)
        weight = tasks.open_task(
            s, ids["demo"], "weight", f"order {HELD} weighed 900 g", now, order_no=HELD
        )
        tasks.open_task(s, ids["other"], "weight", "another seller's", now)
        tasks.open_task(s, ids["other"], "weight", "another seller's", now)
        s.flush()
        weight_id = weight.public_id
    c = browser_client()
    zh = c.get("/web/tasks", headers=ZH).text
    assert "全部类型 (2)" in zh and "盘点差异 (1)" in zh and "称重异常 (1)" in zh
    assert "<td>盘点差异</td>" in zh and "<td>count_variance</td>" not in zh
    assert "another seller" not in zh and "(3)" not in zh  # the other seller's are not counted
    en = c.get("/web/tasks", headers=EN).text
    assert "<td>count variance</td>" in en and "weight hold (1)" in en
    only = c.get("/web/tasks?status=open&kind=weight", headers=EN).text
    assert weight_id in only and variance not in only
    assert 'kind=weight" aria-current="page"' in only
    # a kind nobody has: an empty queue; a kind longer than the column: refused (422)
    assert "No tasks." in c.get("/web/tasks?kind=nope", headers=EN).text
    assert c.get("/web/tasks?kind=" + "x" * 33, headers=EN).status_code == 422
    api = demo_app.get(
        "/api/v1/tasks?kind=weight", headers=login(demo_app, "admin", account="demo")
    ).json()
    assert [t["id"] for t in api] == [weight_id]
