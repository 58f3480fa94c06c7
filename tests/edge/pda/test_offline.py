"""Nothing lost, nothing doubled: the Wi-Fi drops, the page reloads, the session expires."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import (
    Node,
    feedback,
    login,
    p99,
    pending,
    ready,
    scan,
    settle,
    wait_sent,
)
from tests.edge.pda.test_pick_page import start_w1
from tests.support import wait

pytestmark = pytest.mark.browser

A, B, C = SKUS["A"], SKUS["B"], SKUS["C"]
# After BIN-P4 online: ten scans with the node unreachable (two of them wrong).
OFFLINE = [C, C, "BIN-P1", "BIN-P3", B, "BIN-P2", A, "9999999", A, A]


def test_offline_ten_scans_reload_restart_online_exactly_once(
    context: Any, page: Any, node: Node
) -> None:
    start_w1(page)
    scan(page, "BIN-P4")
    wait_sent(page)
    context.set_offline(True)
    for code in OFFLINE:
        scan(page, code)
        settle()
    assert "done" in feedback(page)[0]  # judged on the page: the wave is picked
    assert pending(page) == 10
    assert node.scans() == ["BIN-P4"]
    timings = page.evaluate("window.__pda.timings")
    # The node is unreachable, and the page answered without waiting for it.
    assert p99([t["dom"] for t in timings]) <= 50, timings

    # Back on the Wi-Fi but the node still unreachable: reload, then a browser restart.
    context.route("**/api/v1/**", lambda route: route.abort())
    context.set_offline(False)
    page.reload()
    ready(page)
    assert pending(page) == 10
    assert page.locator("#progress").text_content() == "3/3"
    page.close()
    page = context.new_page()
    page.goto("/pda/pick")
    ready(page)
    assert pending(page) == 10
    assert node.scans() == ["BIN-P4"]

    context.unroute("**/api/v1/**")
    wait_sent(page, timeout=30_000)
    assert node.scans() == ["BIN-P4", *OFFLINE]  # every scan once, in order
    assert sorted(node.movements()) == [("P2", "A", -3), ("P3", "B", -1), ("P4", "C", -2)]
    assert len(node.picked_facts()) == 2
    # The queue's keys reached the node once each (its idempotency records).
    keys = node.rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM pick_request")
    assert keys[0][0] == keys[0][1] >= 11
    assert page.locator("#problems").is_hidden()


def test_expired_session_mid_wave_queue_waits_for_login(page: Any, node: Node) -> None:
    start_w1(page)
    scan(page, "BIN-P4")
    wait_sent(page)
    time.sleep(0.5)  # the page's look at the node's state after the queue emptied
    node.app.state.gate._tokens.clear()  # fault injection: every token expired at once
    scan(page, C)
    assert "ok" in feedback(page)[0]  # judged at once all the same
    page.locator("#login").wait_for(state="visible")
    assert "登录已过期" in str(page.locator("#login-msg").text_content())
    time.sleep(0.3)
    assert node.scans() == ["BIN-P4"]
    assert pending(page) == 1
    login(page)
    wait_sent(page)
    assert node.scans() == ["BIN-P4", C]
    settle()
    scan(page, C)
    wait(lambda: node.scans() == ["BIN-P4", C, C], 30, "the scan after the login")


def test_a_refusal_is_a_problem_not_a_retry(context: Any, page: Any, node: Node) -> None:
    start_w1(page)
    calls: list[str] = []

    def refuse(route: Any) -> None:
        calls.append(route.request.headers.get("idempotency-key", ""))
        route.fulfill(
            status=409,
            content_type="application/json",
            body='{"detail": "no wave in progress", "code": "no_wave"}',
        )

    page.route("**/api/v1/scan", refuse)
    scan(page, "BIN-P4")
    page.locator("#problems").wait_for(state="visible")
    # The node's stable code, in the catalogue's words (not the node's English sentence).
    assert page.locator("#problem-list li").all_text_contents() == [
        "节点拒绝了 BIN-P4 的扫描：节点上没有进行中的波次"
    ]
    time.sleep(2.0)  # past the first retries a loop would make
    assert len(calls) == 1 and pending(page) == 0
    page.unroute("**/api/v1/scan")
    settle()
    scan(page, "GJCMD-CONFIRM")  # the printed 确认 sets the problem aside
    page.locator("#problems").wait_for(state="hidden")


def test_bad_input_gets_a_clear_message(page: Any, node: Node) -> None:
    start_w1(page)
    scan(page, "X" * 10_240, mode="ime")
    kind, text = feedback(page)
    assert "error" in kind and "10240" in text
    settle()
    scan(page, "BIN\x01P4", mode="ime")
    kind, text = feedback(page)
    assert "error" in kind and "控制字符" in text
    settle()
    scan(page, "BIN-P4")
    settle()
    scan(page, "NOTHING-42")
    kind, text = feedback(page)
    assert "error" in kind and "未知条码 NOTHING-42" in text
    wait_sent(page)
    # The 10 KB code never left the page; the others reached the node once.
    assert node.scans() == ["BIN\x01P4", "BIN-P4", "NOTHING-42"]
    assert page.locator("#problems").is_hidden()  # the node judged them as the page did


def test_withdrawn_order_mid_wave_is_shown(page: Any, node: Node) -> None:
    from protocol.messages import OrderReleased
    from tests.edge.api.conftest import order

    start_w1(page)
    scan(page, "BIN-P4")
    wait_sent(page)
    # The hub cancels O2 (the only order wanting C) while its stop is being picked.
    node.feed(
        OrderReleased(
            seq=1, payload=order("O2", "W1", ("A", 1), ("C", 2), status="cancelled", version=2)
        )
    )
    settle()
    scan(page, C)
    page.locator("#problems").wait_for(state="visible")
    text = str(page.locator("#problem-list").text_content())
    assert "节点通知" in text and "本波次有订单被撤回或暂停" in text
    assert re.search("[A-Za-z]{3,}", text) is None, text  # no English sentence of the node


def test_lockout_is_shown(page: Any, node: Node) -> None:
    page.goto("/pda/login")
    ready(page)
    for _ in range(3):
        login(page, "li.lei", "000000")
        page.wait_for_function("document.getElementById('login-msg').textContent !== ''")
        assert "错误" in str(page.locator("#login-msg").text_content())
        page.evaluate("document.getElementById('login-msg').textContent = ''")
    login(page, "li.lei")  # the right PIN, but locked now
    page.wait_for_function("document.getElementById('login-msg').textContent !== ''")
    assert "已锁定" in str(page.locator("#login-msg").text_content())


def test_lost_answer_is_retried_with_its_key_and_committed_once(page: Any, node: Node) -> None:
    """The node commits a scan but its answer is lost on the Wi-Fi: the queue sends it again
    with the same Idempotency-Key and the node answers from its record (docs/pick-api.md,
    "Durability and retries") — the scan counts once."""
    start_w1(page)
    lost: list[str] = []

    def lose_first_answer(route: Any) -> None:
        if lost:
            route.continue_()
            return
        route.fetch()  # the request reaches the node, which commits it...
        lost.append(route.request.headers.get("idempotency-key", ""))
        route.abort()  # ...and its answer never comes back

    page.route("**/api/v1/scan", lose_first_answer)
    scan(page, "BIN-P4")
    settle()
    scan(page, C)
    wait_sent(page, timeout=30_000)
    assert lost and lost[0]
    assert node.scans() == ["BIN-P4", C]  # once each, though BIN-P4 was sent twice
    assert node.rows("SELECT COUNT(*) FROM pick_request WHERE key = ?", lost[0]) == [(1,)]
    assert page.locator("#problems").is_hidden()
