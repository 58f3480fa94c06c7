"""Receiving on the handheld (issue 17) in Chromium as a receiver uses it: the PO opened by
its courier waybill, items scanned by keystroke wedge, a QC fail with a reason, one scan
made with the Wi-Fi down (kept, sent when it is back), the count finished with the printed
确认, each group put away by scanning its bin; the receipt reaches the outbox once, the
page is in Chinese and passes axe."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from protocol.messages import (
    BinInfo,
    BinsUpsert,
    BinsUpserted,
    PoRelease,
    PoReleased,
    PoReleaseLine,
    ReturnRelease,
    ReturnReleased,
    ReturnReleaseLine,
)
from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import Node, feedback, login, pending, ready, scan, settle, wait_sent
from tests.support import wait
from tests.support.browser import axe_violations, screenshot

pytestmark = pytest.mark.browser

A, B = SKUS["A"], SKUS["B"]
#: Words of the stations' English sentences (edge/stations/sentences.py): none may show in
#: the Chinese page (codes, SKUs and bins are upper case and may).
ENGLISH = re.compile(
    r"\b(scan|counted|units?|put|away|receipt|items?|expected|done|bin|from|delivery|"
    r"sellable|damaged|return|asked|back|order|the|of|ok)\b"
)


def chinese_verdict(page: Any, *says: str) -> str:
    """The verdict line in the zh_CN page: the verdict's words and the node's sentence, in
    Chinese, with what it must say."""
    text = feedback(page)[1]
    assert " — " in text, text  # the verdict's words, then the node's sentence
    assert ENGLISH.search(text) is None, text
    for part in says:
        assert part in text, text
    return text


def received(node: Node) -> list[dict[str, Any]]:
    return [
        orjson.loads(b)["payload"]
        for (b,) in node.rows("SELECT body FROM outbox ORDER BY seq")
        if orjson.loads(b)["type"] == "po.received"
    ]


def line(page: Any) -> list[str]:
    """The first line of the receipt's table: SKU, name, expected, passed, failed."""
    return [str(c) for c in page.locator("#d-lines tr").first.locator("td").all_text_contents()]


def test_receive_with_qc_fail_offline_scan_and_putaway(context: Any, page: Any, node: Node) -> None:
    node.feed(
        BinsUpserted(
            seq=1,
            payload=BinsUpsert(
                warehouse="WH1",
                bins=[
                    BinInfo(
                        code="R-01", zone="reserve", x=9, y=1, walk_order=20, barcode="BIN-R01"
                    ),
                    BinInfo(
                        code="D-01", zone="damaged", x=9, y=9, walk_order=99, barcode="BIN-D01"
                    ),
                ],
            ),
        ),
        PoReleased(
            seq=1,
            payload=PoRelease(
                po_number="PO-9",
                warehouse="WH1",
                status="open",
                supplier="东莞皮具厂",
                lines=[PoReleaseLine(sku_code="B", ordered=3, received=0, expected=3, allowed=3)],
                delivery_refs=["SF1400000001"],
            ),
        ),
    )
    page.goto("/pda/inbound")
    ready(page)
    page.click("a[href='/pda/receive']")
    login(page)  # the login panel opens over the page
    ready(page)
    assert page.locator("h1").text_content() == "收货·质检·上架"

    scan(page, "SF1400000001")  # the courier's waybill on the carton
    page.wait_for_function("document.getElementById('d-doc').textContent === 'PO-9'")
    assert page.locator("#d-doc-kind").text_content() == "采购单"
    assert page.locator("#d-source").text_content() == "东莞皮具厂"
    page.wait_for_function("document.getElementById('feedback').textContent.includes('—')")
    chinese_verdict(page, "采购单 PO-9，来自 东莞皮具厂（到货单号 SF1400000001）", "应到 3 件")
    abandon = page.locator("button[data-key='ABANDON']")
    assert abandon.is_visible() and abandon.text_content() == "放弃收货"
    settle()
    scan(page, B)
    page.wait_for_function(
        "document.querySelector('#d-lines td:nth-child(4)')?.textContent === '1'"
    )
    assert "ok" in feedback(page)[0] and "质检合格" in feedback(page)[1]
    chinese_verdict(page, "B 合格：已清点 1 件")

    page.click("button[data-reason='外包装破损']")  # QC fail: the reason first
    page.locator("#d-reason").wait_for(state="visible")
    assert "外包装破损" in str(page.locator("#d-reason").text_content())
    settle()
    scan(page, B)
    page.wait_for_function(
        "document.querySelector('#d-lines td:nth-child(5)')?.textContent === '1'"
    )
    wait_sent(page)

    context.set_offline(True)  # the Wi-Fi drops: the scan is kept on the handheld
    settle()
    scan(page, B)
    page.wait_for_function("document.getElementById('pending').dataset.count === '1'")
    assert pending(page) == 1
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_sent(page, timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#d-lines td:nth-child(4)')?.textContent === '2'"
    )
    assert line(page) == ["B", "", "3", "2", "1"]

    settle()
    scan(page, "GJCMD-CONFIRM")  # counting done: putaway, group by group
    page.locator("#d-putaway").wait_for(state="visible")
    assert page.locator("#d-stage").text_content() == "上架"
    assert page.locator("#d-put-what").text_content() == "2 × B"
    # The screenshot's defect: "3 unit(s) counted. put 2 B away in bin R-01 (reserve)…"
    chinese_verdict(page, "已清点 3 件。", "将 2 件 B 上架到库位 R-01（备货区）：请扫描库位")
    first = str(page.locator("#d-put-bin").text_content())
    assert first not in ("", "D-01")
    assert axe_violations(page) == []
    screenshot(page, "pda-receive-putaway")
    scan(page, first)
    page.wait_for_function("document.getElementById('d-put-bin').textContent === 'D-01'")
    assert "外包装破损" in str(page.locator("#d-put-what").text_content())
    settle()
    scan(page, "BIN-R01")  # a failed unit may not go to a reserve bin: refused, nothing placed
    page.wait_for_function("document.getElementById('feedback').classList.contains('error')")
    assert "库区不符" in feedback(page)[1]
    chinese_verdict(page, "质检不合格的 B 须放坏品、质检或冻结库位，不能放 R-01（备货区）")
    settle()
    scan(page, "BIN-D01")
    page.wait_for_function("document.getElementById('feedback').classList.contains('done')")
    page.locator("#desk-idle").wait_for(state="visible")
    chinese_verdict(page, "的收货单", "已完成：共 3 件")
    wait_sent(page)

    wait(lambda: len(received(node)) == 1, 30, "the receipt in the outbox")
    (fact,) = received(node)
    lines = {(ln["verdict"], ln["reason"]): (ln["qty"], ln["bin"]) for ln in fact["lines"]}
    assert fact["po_number"] == "PO-9"
    assert lines == {("pass", None): (2, first), ("fail", "外包装破损"): (1, "D-01")}
    keys = node.rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM handheld_request")
    assert keys[0][0] == keys[0][1] == 9  # every scan and key reached the node once


def test_returns_desk_speaks_chinese(page: Any, node: Node) -> None:
    """The returns table on the handheld: its verdicts and its abandon button in Chinese."""
    node.feed(
        ReturnReleased(
            seq=1,
            payload=ReturnRelease(
                request="SH-7",
                order_id="O7",
                warehouse="WH1",
                kind="return",
                status="open",
                return_waybill="SF9000000007",
                lines=[ReturnReleaseLine(line_no=1, sku_code="A", qty=2)],
            ),
        ),
    )
    page.goto("/pda/returns")
    login(page)
    ready(page)
    scan(page, "SF9000000007")
    page.wait_for_function("document.getElementById('d-doc').textContent === 'SH-7'")
    chinese_verdict(page, "订单 O7 的退货 SH-7：应退回 2 件")
    abandon = page.locator("button[data-key='ABANDON']")
    assert abandon.is_visible() and abandon.text_content() == "放弃退货"
    settle()
    page.click("button[data-reason='外包装破损']")
    page.locator("#d-reason").wait_for(state="visible")
    settle()
    scan(page, A)
    page.wait_for_function(
        "document.querySelector('#d-lines td:nth-child(5)')?.textContent === '1'"
    )
    chinese_verdict(page, "A 1/2 坏品（外包装破损）")
    settle()
    scan(page, "GJCMD-CONFIRM")  # parcel done: the other unit is missing
    page.locator("#desk-idle").wait_for(state="visible")
    chinese_verdict(page, "退货 SH-7 已收货：A 可售 0 件、坏品 1 件；缺 1 件")
