"""The catalogue in Chromium at 1366×768: upload an import file with two bad rows, watch the
job's fragment (htmx polling) turn into the row-by-row report; a SKU's page with its
barcodes drawn. axe finds no serious or critical violation; screenshots are kept."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.cloud.web.test_browser import _check, _page, hub  # noqa: F401  (the hub fixture)

pytestmark = pytest.mark.browser

FILE = (
    "sku_code,name,barcodes,kind\n"
    "WEB-1,网页导入一,WEB0001,item\n"
    "WEB-2,,WEB0002,item\n"  # row 3: no name
    "WEB-3,网页导入三,WEB0003,gadget\n"  # row 4: no such kind
).encode()


def test_upload_an_import_with_two_bad_rows_and_see_the_report(browser: Any, hub: str) -> None:  # noqa: F811
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/skus")
    _check(page, "skus")
    page.click("text=导入文件")
    page.wait_for_load_state()  # import.js has run
    # over the limit: refused in the page before a byte is sent (the server would say 413).
    # The limit is lowered to the file's size less one here: 20 MB through the DevTools
    # protocol takes a minute.
    limit = page.get_attribute("#import-form", "data-max-bytes")
    page.eval_on_selector("#import-form", f"f => f.dataset.maxBytes = '{len(FILE) - 1}'")
    upload = [{"name": "skus.csv", "mimeType": "text/csv", "buffer": FILE}]
    page.set_input_files("#file", files=upload)
    page.click("button:has-text('导入')")
    page.wait_for_load_state()  # the click returns at the commit
    assert page.is_visible("#too-large") and "/imports/" not in page.url
    assert "文件大于 20 MB" in page.inner_text("#too-large")
    page.eval_on_selector("#import-form", f"f => f.dataset.maxBytes = '{limit}'")
    page.set_input_files("#file", files=[])
    page.set_input_files("#file", files=upload)
    assert not page.is_visible("#too-large")
    _check(page, "sku-import")
    page.click("button:has-text('导入')")
    page.wait_for_url(f"{hub}/web/skus/imports/*")
    report = page.locator("table.report tbody tr")
    report.first.wait_for(timeout=10_000)  # swapped in by htmx once the job has ended
    rows = [r.split("\t") for r in report.all_inner_texts()]
    assert [(r[0], r[1]) for r in rows] == [("3", "name"), ("4", "kind")], rows
    assert "2 行有错；未导入任何内容" in page.inner_text("#import-job")
    _check(page, "sku-import-report")
    page.goto(f"{hub}/web/skus?q=WEB-1")
    assert "没有符合条件的记录" in page.inner_text("tbody")  # nothing of the file imported


def test_a_skus_barcodes_are_drawn(browser: Any, hub: str) -> None:  # noqa: F811
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/skus/" + quote("迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"))
    imgs = page.locator("ul.barcodes img")
    assert imgs.count() == 2
    assert all(imgs.nth(i).evaluate("i => i.naturalWidth > 0") for i in range(2))
    _check(page, "sku")


def test_create_a_sku_then_delete_it(browser: Any, hub: str) -> None:  # noqa: F811
    """As a person: the "new SKU" form on the list, a code taken refused in Chinese with
    what was typed kept, then the new SKU's page and its deletion (confirm box)."""
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/skus")
    page.click("summary:has-text('新建 SKU')")
    page.fill("#f-sku_code", "GIFT 贴膜")  # the demo's: refused
    page.fill("#f-name", "浏览器新品")
    page.fill("#f-barcodes", "WEBNEW0001")
    page.click("button:has-text('创建')")
    page.wait_for_load_state()  # the click returns at the commit
    alert = page.inner_text("[role=alert]")
    assert "未创建" in alert and "商品资料中已有 SKU GIFT 贴膜" in alert, alert
    assert page.input_value("#f-name") == "浏览器新品"
    _check(page, "sku-new-refused")
    page.fill("#f-sku_code", "WEB NEW 红色")
    page.click("button:has-text('创建')")
    page.wait_for_url(f"{hub}/web/skus/" + quote("WEB NEW 红色") + "?saved=1")
    assert page.locator("ul.barcodes img").count() == 1
    page.click("summary:has-text('删除')")
    _check(page, "sku-delete")
    page.check("#f-confirm-delete")
    page.click("form[action$='/delete'] button")
    page.wait_for_url(f"{hub}/web/skus?deleted=*")
    assert "已删除：WEB NEW 红色" in page.inner_text("[role=status]")
    page.goto(f"{hub}/web/skus?q=WEBNEW0001")
    assert "没有符合条件的记录" in page.inner_text("tbody")
