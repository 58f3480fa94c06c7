"""The after-sales pages in a real Chromium (Playwright, Debian's chromium): axe finds no
serious or critical violation on the list or on a received request; screenshots kept under
test-artifacts/screenshots/. SQLite only (the pages' SQL runs on both databases in
test_aftersales_pages.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.seed import seed_demo
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD
from tests.cloud.web.conftest import NODE
from tests.cloud.web.test_aftersales_pages import _request
from tests.support.browser import axe_violations, screenshot
from tests.support.served import served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = tmp_path_factory.mktemp("web-aftersales") / "hub.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
    )
    app = create_app(settings, ingest=False)
    with served(app) as base:
        with app.state.sessions() as s, s.begin():
            seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
        client = TestClient(app)
        client.app.state = app.state  # type: ignore[attr-defined]
        yield base, _request(client)


def test_aftersales_pages_pass_axe(browser: Any, hub: tuple[str, str]) -> None:
    base, number = hub
    ctx = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", bypass_csp=True
    )
    page = ctx.new_page()
    page.goto(f"{base}/web/login")
    page.fill("#account", "demo")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/web/")
    page.click("nav a[href='/web/aftersales']")
    page.wait_for_url(f"{base}/web/aftersales")
    assert axe_violations(page) == []
    screenshot(page, "dashboard-aftersales")
    page.click(f"a[href='/web/aftersales/{number}']")
    page.wait_for_load_state()  # the click returns at the commit
    assert page.text_content("#status") == "已收货"
    assert axe_violations(page) == []
    screenshot(page, "dashboard-aftersales-request")
    ctx.close()
