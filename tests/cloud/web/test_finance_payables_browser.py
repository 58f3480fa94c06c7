"""The finance pages of payables in a real Chromium at 1366×768: record a supplier payment
through the form, read the supplier's statement and its print view, see the period close
page; axe finds no serious or critical violation; screenshots under test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.finance import poster
from cloud.seed import seed_demo
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD, login
from tests.cloud.web.test_browser import _check, _page
from tests.support.served import served

pytestmark = pytest.mark.browser


@pytest.fixture
def hub(tmp_path: Any) -> Iterator[str]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        finance_poster=False,
    )
    app = create_app(settings, ingest=False)
    with served(app) as base:
        with app.state.sessions() as s, s.begin():
            seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
        client = TestClient(app)
        client.app.state = app.state  # type: ignore[attr-defined]
        admin = login(client, "admin", account="demo")
        r = client.post(
            "/api/v1/suppliers", json={"code": "SUP1", "name": "深圳壳厂"}, headers=admin
        )
        assert r.status_code == 201, r.text
        poster.tick(app.state.sessions, datetime.now(UTC) + timedelta(minutes=1))
        _wechat(app)
        yield base


def _wechat(app: Any) -> None:
    """A WeChat Pay bill job of the demo seller and a fund-flow bill with a withdrawal in
    no trade bill (unmatched, a task): what the pages below show."""
    from sqlalchemy import select

    from cloud.db.models import Account
    from cloud.finance import wechat_fundflow, wechat_jobs
    from tests.cloud.finance.test_wechat_v3 import PRIVATE, PUBLIC, ff, mv

    now = datetime.now(UTC)
    with app.state.sessions() as s, s.begin():
        seller = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        wechat_jobs.add_job(
            s,
            seller,
            mchid="1900000109",
            serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            api_url="https://api.mch.weixin.qq.com",
            private_key=PRIVATE,
            platform_key=PUBLIC,
            platform_serial="",
            first_day=now.date() - timedelta(days=3),
            now=now,
        )
        bill = ff([mv("FF-W1", "提现", "支出", "5.00", "95.00", business="")])
        wechat_fundflow.reconcile(s, seller, bill, "ff-1111.csv", "test", now)


def test_pay_a_supplier_and_print_its_statement(browser: Any, hub: str) -> None:
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/finance/payments")
    _check(page, "finance-payments")
    page.fill("#doc_no", "PAY-B1")
    page.select_option("#pay-supplier", "SUP1")
    page.fill("#amount", "88.80")
    page.click("button:text('登记')")
    page.wait_for_url(f"{hub}/web/finance/payments?done=1")
    assert "PAY-B1" in page.inner_text("main") and "88.80" in page.inner_text("main")
    page.click("a:text-is('SUP1')")
    page.fill("#party", "SUP1")
    page.click("button:text('显示')")
    page.wait_for_load_state()  # the click returns at the commit
    main = page.inner_text("main")
    assert "供应商对账单" in main and "sp:PAY-B1" in main and "-88.80" in main
    _check(page, "finance-statement")
    page.emulate_media(media="print")
    assert not page.locator("form.filters").is_visible()
    assert page.locator("#closing").is_visible()
    page.emulate_media(media="screen")
    page.goto(f"{hub}/web/finance/periods")
    assert "尚未结束" in page.inner_text("main")
    _check(page, "finance-periods")
    page.goto(f"{hub}/web/finance/orders?order_no=JY1300001")
    assert "59.00" in page.inner_text("#paid")
    page.select_option("#confirm-kind", "refunded")
    page.fill("#confirm-reason", "买家线下退款")
    page.click("button:text('确认')")
    page.wait_for_url("**/finance/orders?order_no=JY1300001&done=1")
    assert page.inner_text("#state") == "已退款"
    _check(page, "finance-order")
    # WeChat Pay: the jobs and a fund-flow bill with its unmatched movement and task.
    page.goto(f"{hub}/web/finance/wechat-jobs")
    assert "等待下次拉取" in page.inner_text("main")
    _check(page, "finance-wechat-jobs")
    page.click("a:text-is('1900000109')")
    page.click("button:text('暂停')")
    page.wait_for_url("**/finance/wechat-jobs/1900000109?done=parked")
    assert page.inner_text("#job-state") == "已暂停"
    _check(page, "finance-wechat-job")
    page.goto(f"{hub}/web/finance/fundflow-bills")
    page.click("a:text-is('ff-1111.csv')")
    page.wait_for_load_state()  # the click returns at the commit
    main = page.inner_text("main")
    assert "提现 不在交易账单中" in main and "未匹配" in main and "资金流水未匹配" not in main
    _check(page, "finance-fundflow-bill")
    page.click("#task a")
    page.wait_for_load_state()  # the click returns at the commit
    assert "资金流水未匹配" in page.inner_text("main")
    page.goto(f"{hub}/web/finance/orders?order_no=JY1300002")
    assert "118.00" in page.inner_text("#paid")
    # 退预收款 before it ships: 10.00 back from the bank, then a refusal in Chinese.
    page.fill("#refund-no", "TK1")
    page.fill("#refund-amount", "10.00")
    page.select_option("#refund-from", "1002")
    page.fill("#refund-reason", "少发赠品")
    page.click("button:text('退款')")
    page.wait_for_url("**/finance/orders?order_no=JY1300002&done=refund")
    assert "预收款退款已记账" in page.inner_text("main")
    assert page.inner_text("#refunded") == "10.00"
    _check(page, "finance-order-prepayment-refund")
    page.fill("#refund-no", "TK2")
    page.fill("#refund-amount", "108.01")
    page.fill("#refund-reason", "多退")
    page.click("button:text('退款')")
    page.wait_for_load_state()  # the click returns at the commit
    assert "超过了已付的 108.00" in page.inner_text("main")
    page.goto(f"{hub}/web/finance/orders?order_no=JY1300002")
    assert page.inner_text("#refunded") == "10.00"
    page.context.close()
