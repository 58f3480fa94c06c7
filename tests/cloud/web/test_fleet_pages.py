"""The fleet's own pages: the live rows fragment, one node's page (figures, devices, alarm,
history), and the pick leases with their move action (the API's ``POST
/api/v1/orders/{no}/pick-node``: its scope, its model, its refusals; nothing changed when
refused)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.models import Node, NodeSample, OrderLog, PickLease, SalesOrder
from cloud.nodes import ownership
from cloud.orders import release as releases
from cloud.sync import assignment
from tests.cloud.orders.test_pick_lease import send, started
from tests.cloud.web.conftest import AUDITED, NODE, add_user

PICK1, PICK2 = "wh1-pick-1", "wh1-pick-2"
EN = {"Accept-Language": "en"}


@pytest.fixture
def leased(demo_app: TestClient) -> TestClient:
    """WH1 with two pick nodes (and the demo's pack node); AUDITED released to PICK1."""
    app: Any = demo_app.app
    now = datetime.now(UTC)
    with app.state.sessions() as s, s.begin():
        a = s.execute(select(SalesOrder.account_id).where(SalesOrder.order_no == AUDITED))
        account_id = a.scalar_one()
        for n in (PICK1, PICK2):
            ownership.enroll(s, n, "demo", "test", now)
            assignment.assign_node(s, account_id, n, "WH1", "test", now)
    for n, kind in ((PICK1, "pick"), (PICK2, "pick"), (NODE, "pack")):
        send(app.state.engine, n, 1, started(kind))
    with app.state.sessions() as s, s.begin():
        releases.release(s, account_id, AUDITED, "test", now, pick_node=PICK1)
    return demo_app


def _lease(app: TestClient) -> tuple[str | None, int, str]:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == AUDITED)).scalar_one()
        lease = s.get_one(PickLease, o.id)
        logs = s.execute(
            select(func.count()).select_from(OrderLog).where(OrderLog.order_id == o.id)
        ).scalar_one()
        return lease.node_id, logs, o.status


def _move_form(html: str) -> dict[str, str]:
    """The order's move form as the page fills it (its CSRF token too: a form without the
    session's token is refused in a browser)."""
    form = html[html.index(f'action="/web/pick-leases/{AUDITED}"') :]
    return {
        "seen": re.search(r'name="seen" value="([^"]+)"', form).group(1),  # type: ignore[union-attr]
        "back": re.search(r'name="back" value="([^"]+)"', form).group(1),  # type: ignore[union-attr]
        "csrf": re.search(r'name="csrf" value="([^"]*)"', form).group(1),  # type: ignore[union-attr]
    }


def test_fleet_rows_fragment_is_what_htmx_polls(browser_client: Callable[..., TestClient]) -> None:
    c = browser_client()
    page = c.get("/web/fleet", headers=EN).text
    assert 'hx-get="/web/fleet?part=rows"' in page and 'hx-trigger="every 3s"' in page
    part = c.get("/web/fleet?part=rows", headers=EN)
    assert part.status_code == 200
    assert part.text.lstrip().startswith("<tbody") and "<html" not in part.text
    assert NODE in part.text and f'href="/web/fleet/{NODE}"' in part.text
    assert c.get("/web/fleet?part=nonsense").status_code == 422


def test_node_page_shows_figures_devices_alarm_and_history(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        n = s.get_one(Node, NODE)
        n.online, n.backlog, n.oldest_unacked_age_s, n.sync_lag_ms = True, 42, 7.5, 1500
        n.alarm = "sync stalled for 120 s"
        n.devices = [{"name": "zebra-sf", "kind": "printer", "connected": False, "errors": 2}]
        for i, backlog in enumerate((3, 9, 4)):
            at = now - timedelta(minutes=30 - i)
            s.add(NodeSample(node_id=NODE, at=at, online=True, backlog=backlog, sync_lag_ms=800))
        s.add(NodeSample(node_id=NODE, at=now - timedelta(days=3), online=True, backlog=99))
    c = browser_client()
    r = c.get(f"/web/fleet/{NODE}", headers=EN)
    assert r.status_code == 200, r.text
    for text in ("42", "7.5", "1500", "sync stalled for 120 s", "zebra-sf", "printer"):
        assert text in r.text, text
    data = re.search(r'<script type="application/json" id="node-history">(.*?)</script>', r.text)
    assert data is not None
    import json

    chart = json.loads(data.group(1))
    assert chart["backlog"] == [3, 9, 4] and chart["lag_s"] == [0.8, 0.8, 0.8]
    assert "<td>9</td>" in r.text  # the table: the worst of the hour
    # the 3-day-old sample is outside the day's range: neither in the table nor in the chart
    # (match the cell, not the digits: epoch seconds in the chart's JSON may contain "99")
    assert "<td>99</td>" not in r.text and 99 not in chart["backlog"]
    week = c.get(f"/web/fleet/{NODE}?range=7d", headers=EN).text
    assert (
        json.loads(re.search(r'id="node-history">(.*?)</script>', week).group(1))["backlog"][0]
        == 99
    )  # type: ignore[union-attr]
    assert c.get(f"/web/fleet/{NODE}?range=1y").status_code == 422
    zh = c.get(f"/web/fleet/{NODE}", headers={"Accept-Language": "zh-CN"}).text
    assert "看门狗告警" in zh and "拣货" in zh
    # A node's alarm as the edge writes it (edge/sync.py, edge/store/store.py): said in
    # Chinese on the node's page and the fleet table; the node's own words kept as sent.
    alarm = (
        "store cannot be written: disk I/O error; "
        "no sync progress for 95 s with 12 events waiting, uplink down for 80 s"
    )
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        s.get_one(Node, NODE).alarm = alarm
    said = "本地库无法写入：disk I/O error; 同步 95 秒无进展，12 个事件等待中，上行链路已断开 80 秒"
    zh = c.get(f"/web/fleet/{NODE}", headers={"Accept-Language": "zh-CN"}).text
    assert (
        said in zh
        and said in c.get("/web/fleet?part=rows", headers={"Accept-Language": "zh-CN"}).text
    )
    assert alarm in c.get(f"/web/fleet/{NODE}", headers=EN).text
    assert c.get("/web/fleet/no-such-node").status_code == 404


def test_move_a_lease_from_the_page(
    leased: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    c = browser_client()
    page = c.get("/web/pick-leases?warehouse=WH1", headers=EN).text
    assert AUDITED in page and PICK1 in page and f"<option>{PICK2}</option>" in page
    assert f"<option>{NODE}</option>" not in page  # the pack node is no target
    held = c.get(f"/web/fleet/{PICK1}", headers=EN).text
    assert AUDITED in held
    assert AUDITED not in c.get(f"/web/pick-leases?node={PICK2}", headers=EN).text
    form = _move_form(page)
    r = c.post(
        f"/web/pick-leases/{AUDITED}",
        data={**form, "node": PICK2, "reason": "pick-1 down"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/web/pick-leases?warehouse=WH1&done=")
    assert _lease(leased)[0] == PICK2
    assert "Moved:" in c.get(r.headers["location"], headers=EN).text
    # and back, from the node's page; a "back" off the dashboard is not followed
    form = _move_form(c.get(f"/web/fleet/{PICK2}", headers=EN).text)
    assert form["back"] == f"/web/fleet/{PICK2}"
    r = c.post(
        f"/web/pick-leases/{AUDITED}",
        data={
            **form,
            "back": "//evil.example/x",
            "node": PICK1,
            "reason": "up again",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/web/pick-leases?done=")
    assert _lease(leased)[0] == PICK1


def test_refused_moves_show_the_sentence_and_change_nothing(
    leased: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    c = browser_client()
    form = _move_form(c.get("/web/pick-leases", headers=EN).text)
    before = _lease(leased)

    def post(**data: str) -> Any:
        return c.post(
            f"/web/pick-leases/{AUDITED}",
            data={**form, "csrf": c.csrf, "reason": "x", **data},  # type: ignore[attr-defined]
            headers=EN,
        )

    cases = [
        (post(node=NODE), 409, "not a pick station"),
        (post(node="wh9-pick-1"), 409, "does not serve warehouse WH1"),
        (post(node=PICK1), 409, "already leased to"),
        (post(node="bad node!"), 422, "node"),
        (post(node=PICK2, reason=" "), 422, "reason"),
        (post(node=PICK2, seen="2020-01-01T00:00:00+00:00"), 409, "after you opened it"),
        (post(node=PICK2, csrf="forged"), 403, ""),
    ]
    for r, status, sentence in cases:
        assert r.status_code == status and sentence in r.text, (status, sentence, r.text[-600:])
        assert _lease(leased) == before
    # an order no longer waiting to be picked (its pick came in meanwhile)
    with leased.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == AUDITED)).scalar_one()
        o.status = "picked"
        seen = o.changed_at.isoformat()
    r = post(node=PICK2, seen=seen)
    assert r.status_code == 409 and "moves only while it waits to be picked" in r.text
    assert _lease(leased) == (before[0], before[1], "picked")


def test_moving_a_lease_needs_nodes_write(
    leased: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    add_user(leased, "demo", "aud", "auditor")  # nodes:read, not nodes:write
    c = browser_client("demo", "aud")
    page = c.get("/web/pick-leases", headers=EN)
    assert page.status_code == 200 and AUDITED in page.text
    assert 'action="/web/pick-leases/' not in page.text  # no form offered
    r = c.post(
        f"/web/pick-leases/{AUDITED}",
        data={"node": PICK2, "reason": "x", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert r.status_code == 403 and "nodes:write" in r.text
    assert _lease(leased)[0] == PICK1
    add_user(leased, "demo", "pk", "picker")  # no nodes:read
    p = browser_client("demo", "pk")
    for path in ("/web/pick-leases", f"/web/fleet/{NODE}", "/web/fleet?part=rows"):
        assert p.get(path).status_code == 403, path


def test_another_sellers_nodes_and_leases_are_not_there(
    leased: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    add_user(leased, "other", "boss", "admin")
    b = browser_client("other", "boss")
    for path in (f"/web/fleet/{PICK1}", f"/web/fleet/{NODE}"):
        assert b.get(path).status_code == 404, path
    leases = b.get("/web/pick-leases").text
    assert AUDITED not in leases and PICK1 not in leases
    assert NODE not in b.get("/web/fleet?part=rows").text
    r = b.post(
        f"/web/pick-leases/{AUDITED}",
        data={"node": PICK2, "reason": "x", "csrf": b.csrf},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    assert _lease(leased)[0] == PICK1


def test_fourteen_days_of_minutes_chart_as_about_a_thousand_points(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    import json

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = [
        {"node_id": NODE, "at": now - timedelta(minutes=i), "online": True, "backlog": i % 50}
        for i in range(14 * 24 * 60)
    ]
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        s.execute(NodeSample.__table__.insert(), rows)  # type: ignore[attr-defined]
    c = browser_client()
    r = c.get(f"/web/fleet/{NODE}?range=14d", headers=EN)
    data = re.search(r'id="node-history">(.*?)</script>', r.text)
    assert data is not None
    chart = json.loads(data.group(1))
    assert 1000 <= len(chart["t"]) <= 1010 and max(chart["backlog"]) == 49
    assert len(r.text.encode()) < 200_000  # uncompressed, the whole page
    assert r.text.count("<tr><td>20") <= 30  # the table: one row per 12 h


# --- the bulk move ------------------------------------------------------------------------

MORE = ("JY1300001", "JY1300003")  # audited in the demo, as AUDITED is


@pytest.fixture
def three_leased(leased: TestClient) -> TestClient:
    """AUDITED and MORE released to PICK1."""
    app: Any = leased.app
    with app.state.sessions() as s, s.begin():
        a = s.execute(select(SalesOrder.account_id).where(SalesOrder.order_no == AUDITED))
        account_id = a.scalar_one()
        for no in MORE:
            releases.release(s, account_id, no, "test", datetime.now(UTC), pick_node=PICK1)
    return leased


def _leases(app: TestClient) -> dict[str, tuple[str | None, int]]:
    """Each of the three orders' pick node and the number of its history rows."""
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        out = {}
        for no in (AUDITED, *MORE):
            o = s.execute(select(SalesOrder).where(SalesOrder.order_no == no)).scalar_one()
            logs = s.execute(
                select(func.count()).select_from(OrderLog).where(OrderLog.order_id == o.id)
            ).scalar_one()
            out[no] = (s.get_one(PickLease, o.id).node_id, logs)
        return out


def _ticks(html: str) -> dict[str, str]:
    """The page's boxes of the bulk move: order no → the value it sends."""
    boxes = re.findall(r'name="order" form="bulk-move" value="([^"]+)"', html)
    return {v.rpartition("@")[0]: v for v in boxes}


def test_bulk_move_all_or_nothing(
    three_leased: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    c = browser_client()
    page = c.get("/web/pick-leases?warehouse=WH1", headers=EN).text
    assert 'id="bulk-move"' in page and 'action="/web/pick-leases"' in page
    ticks = _ticks(page)
    assert set(ticks) == {AUDITED, *MORE}
    bulk = page[page.index('id="bulk-move"') :]
    token = re.search(r'name="csrf" value="([^"]*)"', bulk)
    assert token and token.group(1) == c.csrf  # type: ignore[attr-defined]
    back = "/web/pick-leases?warehouse=WH1"

    def post(orders: list[str], node: str = PICK2, **data: str) -> Any:
        return c.post(
            "/web/pick-leases",
            data={"order": orders, "node": node, "reason": "pick-1 down", "back": back,
                  "csrf": c.csrf, **data},  # type: ignore[attr-defined]
            headers=EN,
            follow_redirects=False,
        )  # fmt: skip

    before = _leases(three_leased)
    assert {n for n, _ in before.values()} == {PICK1}
    # one refused order, last in the list: the ones before it do not move either
    stale = f"{MORE[1]}@2020-01-01T00:00:00+00:00"
    cases = [
        (post([ticks[AUDITED], ticks[MORE[0]], stale]), 409, f"order {MORE[1]} was changed by"),
        (post([ticks[AUDITED], ticks[MORE[0]]], node=NODE), 409, "not a pick station"),
        (post([ticks[AUDITED], ticks[AUDITED]]), 422, "an order is listed twice"),
        (post([]), 422, "choose at least one order to move"),
        (post([f"JY-{i}" for i in range(501)]), 422, "move at most 500 orders at once, not 501"),
        (post([ticks[AUDITED], "JY-NOPE"]), 404, "JY-NOPE"),
        (post([ticks[AUDITED]], reason=" "), 422, "reason"),
        (post([ticks[AUDITED]], csrf="forged"), 403, ""),
    ]
    for r, status, sentence in cases:
        assert r.status_code == status and sentence in r.text, (status, sentence, r.text[-600:])
        assert _leases(three_leased) == before
    zh = c.post(
        "/web/pick-leases",
        data={"order": [ticks[AUDITED], stale], "node": PICK2, "reason": "x", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers={"Accept-Language": "zh-CN"},
    )
    assert zh.status_code == 409 and f"订单 {MORE[1]}" in zh.text and "was changed" not in zh.text
    # an order picked meanwhile (its pick came in): refused, none moved
    with three_leased.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == MORE[1])).scalar_one()
        o.status = "picked"
        picked = f"{MORE[1]}@{o.changed_at.isoformat()}"
    r = post([ticks[AUDITED], ticks[MORE[0]], picked])
    assert r.status_code == 409 and "moves only while it waits to be picked" in r.text
    assert {no: n for no, (n, _) in _leases(three_leased).items()} == dict.fromkeys(
        (AUDITED, *MORE), PICK1
    )
    # all of them may move: all move, each with its history row
    r = post([ticks[AUDITED], ticks[MORE[0]]])
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(back + "&done=")
    after = _leases(three_leased)
    for no in (AUDITED, MORE[0]):
        assert after[no] == (PICK2, before[no][1] + 1)
    assert after[MORE[1]][0] == PICK1
    assert f"{AUDITED}, {MORE[0]} → {PICK2}" in c.get(r.headers["location"], headers=EN).text


def test_bulk_move_scopes_and_tenancy(
    three_leased: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    ticks = _ticks(browser_client().get("/web/pick-leases", headers=EN).text)
    data = {"order": list(ticks.values()), "node": PICK2, "reason": "x"}
    add_user(three_leased, "demo", "aud", "auditor")  # nodes:read, not nodes:write
    a = browser_client("demo", "aud")
    page = a.get("/web/pick-leases", headers=EN).text
    assert 'id="bulk-move"' not in page and 'form="bulk-move"' not in page
    r = a.post("/web/pick-leases", data={**data, "csrf": a.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 403 and "nodes:write" in r.text
    add_user(three_leased, "other", "boss", "admin")
    b = browser_client("other", "boss")
    r = b.post("/web/pick-leases", data={**data, "csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404
    assert {n for n, _ in _leases(three_leased).values()} == {PICK1}


def test_an_alarm_the_hub_cannot_read_is_shown_as_sent() -> None:
    from cloud.web import i18n
    from cloud.web.alarms import alarm_in

    zh = i18n.translations("zh_CN").gettext
    assert alarm_in("sync stalled for 120 s", zh) == "sync stalled for 120 s"
    assert alarm_in("store is read-only: a; b", zh) == "本地库只读：a; b"
    assert alarm_in("uplink to mqtt.local:8883 down for 61 s", zh) == (
        "到 mqtt.local:8883 的上行链路已断开 61 秒"
    )
    assert alarm_in(None, zh) == ""
