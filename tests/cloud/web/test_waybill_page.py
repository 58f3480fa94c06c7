"""The e-waybills page (/web/waybills): per courier its source and its draws by state, the
refused draws with their reasons as text, in Chinese by default; readers see it, a picker
does not; another seller's couriers and draws never show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Account, ChannelShop, Node, SalesOrder
from cloud.db.waybills import PoolWaybill, Waybill, WaybillPool, WaybillSource
from tests.cloud.web.conftest import AUDITED, HELD, add_user
from tests.cloud.web.test_channel_pages import EN, XSS, seed_shop


def _seed(app: TestClient) -> None:
    """ZTO: a source and one draw in each state (two on orders); YTO: a draw, no source."""
    seed_shop(app, failed_shipment=False)
    now = datetime.now(UTC)
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        shop = s.execute(select(ChannelShop.id).where(ChannelShop.code == "tb1")).scalar_one()
        orders = dict(s.execute(select(SalesOrder.order_no, SalesOrder.id)).all())
        s.add(
            WaybillSource(
                account_id=acct,
                carrier="ZTO",
                shop_id=shop,
                cp_code="ZTO",
                sender={"name": "管家仓"},
                changed_at=now,
            )
        )
        states = [
            ("ZTO", "drawn", "ZT1"),
            ("ZTO", "drawn", "ZT2"),
            ("ZTO", "pending", None),
            ("ZTO", "cancel", "ZT3"),
            ("ZTO", "cancelled", "ZT4"),
            ("ZTO", "void", None),
            ("ZTO", "failed", None),
            ("YTO", "drawn", "YT1"),
        ]
        for n, (carrier, state, code) in enumerate(states):
            s.add(
                Waybill(
                    account_id=acct,
                    order_id=orders[AUDITED if state != "failed" else HELD],
                    shop_id=shop,
                    carrier=carrier,
                    cp_code=carrier,
                    idempotency_key=f"k{n}",
                    waybill_code=code,
                    state=state,
                    attempts=12 if state == "failed" else 1,
                    next_try_at=now,
                    error=f"isv.invalid-parameter:cp_code {XSS}" if state == "failed" else None,
                    created_at=now - timedelta(minutes=n),
                )
            )


def _cells(html: str, carrier: str) -> str:
    row = html.split(f'<th scope="row">{carrier}</th>', 1)[1].split("</tr>", 1)[0]
    return " ".join(c.split(">", 1)[-1] for c in row.split("</td>") if "<td" in c)


def test_waybills_per_courier_and_refusals(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    _seed(demo_app)
    add_user(demo_app, "demo", "reader", "readonly")
    reader = browser_client("demo", "reader")
    page = reader.get("/web/waybills", headers=EN)
    assert page.status_code == 200
    html = page.text
    # issued in all (numbered, not waiting), on orders, waiting, to give back, given back, refused
    zto = _cells(html, "ZTO")
    assert zto.endswith('4 2 1 1 1 <strong class="alarm">1</strong>'), zto
    assert "ZTO · " in zto and "tb1" in zto
    yto = _cells(html, "YTO")
    assert "no source" in yto and yto.endswith("1 1 0 0 0 0"), yto
    assert HELD in html and "12" in html and XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    zh = reader.get("/web/waybills").text
    assert "电子面单" in zh and "取号被拒" in zh and "待回收" in zh
    assert 'href="/web/waybills"' in reader.get("/web/channels", headers=EN).text
    add_user(demo_app, "demo", "picky", "picker")
    assert browser_client("demo", "picky").get("/web/waybills").status_code == 403
    add_user(demo_app, "other", "boss", "admin")
    theirs = browser_client("other", "boss").get("/web/waybills", headers=EN).text
    assert "ZTO" not in theirs and HELD not in theirs and "No courier has" in theirs


def test_offline_pool_levels(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """Per node and courier: target, on the node (alarmed at half or less), on the way, used
    offline, refused; another seller sees none of it."""
    _seed(demo_app)
    now = datetime.now(UTC)
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        shop = s.execute(select(ChannelShop.id).where(ChannelShop.code == "tb1")).scalar_one()
        s.add(
            WaybillPool(
                account_id=acct, node_id="wh1-pack-9", carrier="ZTO", target=6, changed_at=now
            )
        )
        for n, state in enumerate(["sent", "sent", "pending", "ready", "used", "failed"]):
            s.add(
                PoolWaybill(
                    account_id=acct,
                    node_id="wh1-pack-9",
                    carrier="ZTO",
                    shop_id=shop,
                    cp_code="ZTO",
                    idempotency_key=f"pool:{n}",
                    waybill_code=f"PZ{n}" if state != "pending" else None,
                    state=state,
                    attempts=1,
                    next_try_at=now,
                    created_at=now,
                )
            )
    admin = browser_client("demo", "admin")
    html = admin.get("/web/waybills", headers=EN).text
    row = html.split('<th scope="row">wh1-pack-9</th>', 1)[1].split("</tr>", 1)[0]
    cells = " ".join(c.split(">", 1)[-1] for c in row.split("</td>") if "<td" in c)
    # courier, target, on the node (2 of 6: low), on the way, used, being given back, given
    # back, recipient not yet corrected, refused, given back by force
    alarm = '<strong class="alarm">{}</strong>'
    assert cells == f"ZTO 6 {alarm.format(2)} 2 1 0 0 0 {alarm.format(1)} 0", cells
    assert "离线单号池" in admin.get("/web/waybills").text
    add_user(demo_app, "other", "boss", "admin")
    theirs = browser_client("other", "boss").get("/web/waybills", headers=EN).text
    assert "wh1-pack-9" not in theirs and "No node keeps an offline pool" in theirs


def _pools(app: TestClient) -> list[tuple[str, str, int]]:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(WaybillPool).order_by(WaybillPool.node_id)).scalars()
        return [(r.node_id, r.carrier, r.target) for r in rows]


def test_pool_target_form_refuses_bad_input_and_sets_the_target(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The form on the page sets a node's pool target as the API does; a target that is not a
    whole number from 0 to 500, an unknown node, another seller's node, a courier without a
    source and a missing CSRF token are each refused with a sentence, nothing stored."""
    from cloud.nodes import ownership

    _seed(demo_app)
    add_user(demo_app, "other", "boss", "admin")
    now = datetime.now(UTC)
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        for node, account in (("wh1-pack-mine", "demo"), ("wh9-pack-theirs", "other")):
            ownership.enroll(s, node, account, "t", now)
            s.add(Node(node_id=node, first_seen=now, last_seen=now))
    admin = browser_client("demo", "admin")
    ok = {"node": "wh1-pack-mine", "carrier": "ZTO", "target": "8"}
    bad = [
        ({"target": "-1"}, "whole number from 0 to 500"),
        ({"target": "501"}, "whole number from 0 to 500"),
        ({"target": "99999999999999"}, "whole number from 0 to 500"),
        ({"target": "8.5"}, "whole number from 0 to 500"),
        ({"target": "eight"}, "whole number from 0 to 500"),
        ({"target": ""}, "whole number from 0 to 500"),
        ({"node": "wh1-no-such-node"}, "no node wh1-no-such-node"),
        ({"node": "wh9-pack-theirs"}, "no node wh9-pack-theirs"),
        ({"carrier": "SF"}, "courier SF has no e-waybill source"),
        ({"carrier": ""}, "the courier&#39;s code is needed"),
    ]
    for change, said in bad:
        r = admin.post(
            "/web/waybills/pools",
            data={**ok, **change, "csrf": admin.csrf},  # type: ignore[attr-defined]
            headers=EN,
            follow_redirects=False,
        )
        assert r.status_code == 422, (change, r.status_code)
        err = r.text.split('role="alert"', 1)[-1][:400]
        assert said in r.text and "Nothing was saved" in r.text, (change, err)
        assert _pools(demo_app) == [], change
    r = admin.post("/web/waybills/pools", data=ok, follow_redirects=False)  # no CSRF token
    assert r.status_code == 403 and _pools(demo_app) == []
    zh = admin.post(
        "/web/waybills/pools",
        data={**ok, "target": "-3", "csrf": admin.csrf},  # type: ignore[attr-defined]
    )
    assert zh.status_code == 422 and "目标数量须为 0 到 500 之间的整数" in zh.text
    r = admin.post(
        "/web/waybills/pools",
        data={**ok, "csrf": admin.csrf},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert _pools(demo_app) == [("wh1-pack-mine", "ZTO", 8)]
    page = admin.get(r.headers["location"], headers=EN).text
    assert "Done." in page and '<th scope="row">wh1-pack-mine</th>' in page
    # Another seller posting for this node: refused, the target unchanged.
    boss = browser_client("other", "boss")
    r = boss.post(
        "/web/waybills/pools",
        data={**ok, "target": "0", "csrf": boss.csrf},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert r.status_code == 422 and "no node wh1-pack-mine" in r.text
    assert _pools(demo_app) == [("wh1-pack-mine", "ZTO", 8)]
    add_user(demo_app, "demo", "reader2", "readonly")
    reader = browser_client("demo", "reader2")
    assert 'action="/web/waybills/pools"' not in reader.get("/web/waybills").text
    r = reader.post(
        "/web/waybills/pools",
        data={**ok, "target": "1", "csrf": reader.csrf},  # type: ignore[attr-defined]
    )
    assert r.status_code == 403 and _pools(demo_app) == [("wh1-pack-mine", "ZTO", 8)]


def _node_pools(app: TestClient) -> list[tuple[str, int, str, bool]]:
    """Each pool number of the test's nodes: node, target of its pool, state, forced."""
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        targets = {
            (p.node_id, p.carrier): p.target for p in s.execute(select(WaybillPool)).scalars()
        }
        rows = s.execute(select(PoolWaybill).order_by(PoolWaybill.id)).scalars()
        return [
            (r.node_id, targets[(r.node_id, r.carrier)], r.state, r.forced_at is not None)
            for r in rows
        ]


def _asked_at(app: TestClient, when: datetime) -> None:
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        for row in s.execute(select(PoolWaybill).where(PoolWaybill.state == "releasing")).scalars():
            row.asked_at = when


def test_retire_and_force_give_back_on_the_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """Retire a node and give back by force from the page: CSRF, channels:write, the
    refusals (another seller's node 404, no pool / retired already / too early / nothing
    owed 409) shown as sentences in the page's language with nothing changed."""
    from cloud.nodes import ownership

    _seed(demo_app)
    add_user(demo_app, "other", "boss", "admin")
    now = datetime.now(UTC)
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        shop = s.execute(select(ChannelShop.id).where(ChannelShop.code == "tb1")).scalar_one()
        for node, account in (
            ("wh1-pack-mine", "demo"),
            ("wh1-pack-bare", "demo"),
            ("wh9-pack-theirs", "other"),
        ):
            ownership.enroll(s, node, account, "t", now)
            s.add(Node(node_id=node, first_seen=now, last_seen=now))
        for node, account in (("wh1-pack-mine", "demo"), ("wh9-pack-theirs", "other")):
            acct = s.execute(select(Account.id).where(Account.name == account)).scalar_one()
            s.add(
                WaybillPool(account_id=acct, node_id=node, carrier="ZTO", target=2, changed_at=now)
            )
            for n, state in enumerate(["sent", "releasing"]):
                s.add(
                    PoolWaybill(
                        account_id=acct,
                        node_id=node,
                        carrier="ZTO",
                        shop_id=shop,
                        cp_code="ZTO",
                        idempotency_key=f"pool:{node}:{n}",
                        waybill_code=f"P{node[-4:]}{n}",
                        state=state,
                        attempts=1,
                        next_try_at=now,
                        created_at=now,
                        asked_at=now if state == "releasing" else None,
                    )
                )
    admin = browser_client("demo", "admin")
    page = admin.get("/web/waybills", headers=EN).text
    assert 'action="/web/waybills/nodes/wh1-pack-mine/retire"' in page
    assert 'action="/web/waybills/nodes/wh1-pack-mine/force"' in page
    assert "wh9-pack-theirs" not in page and "24 hours" in page
    assert "退役" in admin.get("/web/waybills").text
    start = _node_pools(demo_app)

    def post(client: TestClient, path: str, zh: bool = False, csrf: bool = True) -> Any:
        data = {"csrf": client.csrf} if csrf else {}  # type: ignore[attr-defined]
        return client.post(
            f"/web/waybills/nodes/{path}",
            data=data,
            headers={} if zh else EN,
            follow_redirects=False,
        )

    # Refused, nothing changed: no CSRF, a reader, another seller's node, an unknown node,
    # hostile ids, a node without a pool, forcing too early.
    assert post(admin, "wh1-pack-mine/retire", csrf=False).status_code == 403
    assert post(admin, "wh1-pack-mine/force", csrf=False).status_code == 403
    add_user(demo_app, "demo", "reader3", "readonly")
    reader = browser_client("demo", "reader3")
    assert "/waybills/nodes/" not in reader.get("/web/waybills").text
    assert post(reader, "wh1-pack-mine/retire").status_code == 403
    assert post(reader, "wh1-pack-mine/force").status_code == 403
    for path, status, said in (
        ("wh9-pack-theirs/retire", 404, "no node wh9-pack-theirs"),
        ("wh9-pack-theirs/force", 404, "no node wh9-pack-theirs"),
        ("wh1-no-such/retire", 404, "no node wh1-no-such"),
        ("wh1-pack-bare/retire", 409, "keeps no offline pool"),
        ("wh1-pack-bare/force", 409, "is not giving any numbers back"),
        ("wh1-pack-mine/force", 409, "can be given back by force from"),
        ("%F0%9F%98%80/force", 404, "no node"),
    ):
        r = post(admin, path)
        assert r.status_code == status, (path, r.status_code)
        assert said in r.text and "Nothing was changed" in r.text, (path, r.text[-600:])
    for path in ("a%00b/retire", "%ED%A0%80/force", "x" * 65 + "/retire", "x%2F..%2Fy/retire"):
        r = post(admin, path)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    assert _node_pools(demo_app) == start
    zh = post(admin, "wh1-pack-mine/force", zh=True)
    assert zh.status_code == 409 and "小时" in zh.text, zh.text[-600:]

    # Another seller forcing my node after the wait: 404, still unchanged.
    _asked_at(demo_app, now - timedelta(days=2))
    boss = browser_client("other", "boss")
    assert post(boss, "wh1-pack-mine/force").status_code == 404
    assert post(boss, "wh1-pack-mine/retire").status_code == 404
    assert _node_pools(demo_app) == start

    r = post(admin, "wh1-pack-mine/force")
    assert r.status_code == 303 and r.headers["location"].endswith("done=forced#nodes-title")
    assert "Given back by force" in admin.get(r.headers["location"], headers=EN).text
    mine = [p for p in _node_pools(demo_app) if p[0] == "wh1-pack-mine"]
    assert mine == [("wh1-pack-mine", 2, "sent", False), ("wh1-pack-mine", 2, "cancel", True)]
    theirs = [p for p in _node_pools(demo_app) if p[0] == "wh9-pack-theirs"]
    assert theirs == [p for p in start if p[0] == "wh9-pack-theirs"]  # untouched
    r = post(admin, "wh1-pack-mine/force")
    assert r.status_code == 409 and "not giving any numbers back" in r.text

    r = post(admin, "wh1-pack-mine/retire")
    assert r.status_code == 303, r.text[-600:]
    assert [p[1] for p in _node_pools(demo_app) if p[0] == "wh1-pack-mine"] == [0, 0]
    r = post(admin, "wh1-pack-mine/retire", zh=True)
    assert r.status_code == 409 and "已退役" in r.text, r.text[-600:]
    assert [p[1] for p in _node_pools(demo_app) if p[0] == "wh9-pack-theirs"] == [2, 2]
