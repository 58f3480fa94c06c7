"""The rule editor in a real Chromium at 1366×768 (issue 15, "Rules and couriers"): edit a
rule in the form, dry run it (the table swapped in by htmx, nothing saved), then save it;
the couriers page; axe (no serious or critical violation) and screenshots of each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cloud.web.conftest import AUDITED
from tests.cloud.web.test_browser import _check, _page, hub  # noqa: F401  (the module's hub)

pytestmark = pytest.mark.browser


def test_edit_a_rule_dry_run_then_save(browser: Any, hub: str) -> None:  # noqa: F811
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/rules/hunan-sf")
    page.fill("#f-action-carrier", "ZTO")
    page.check("input[name=include_audited]")
    page.locator("form.rule-form button", has_text="用今日订单试运行").click()
    table = page.locator("#dry-run table")
    table.wait_for()
    assert page.url == f"{hub}/web/rules/hunan-sf"  # swapped in place, not a new page
    rows = table.inner_text()
    assert AUDITED in rows and "ZTO (hunan-sf@2)" in rows and "SF (hunan-sf@1)" in rows
    assert page.input_value("#f-action-carrier") == "ZTO"  # the edit is still in the form
    assert "v2" not in page.inner_text("main")  # nothing saved
    _check(page, "rule-dry-run")
    # a refusal beside its field, by htmx too
    page.fill("#f-priority", "-5")
    page.locator("form.rule-form button", has_text="用今日订单试运行").click()
    page.locator("#f-priority-err").wait_for()
    page.fill("#f-priority", "20")
    page.locator("form.rule-form button", has_text="保存为新版本").click()
    page.wait_for_url(f"{hub}/web/rules/hunan-sf?done=1")
    main = page.inner_text("main")
    assert "v2" in main and '"carrier": "ZTO"' in main
    page.goto(f"{hub}/web/couriers")
    _check(page, "couriers")
    page.context.close()
