"""The e-waybills page (/web/waybills): per courier its source and its draws by state, the
refused draws with their reasons as text, in Chinese by default; readers see it, a picker
does not; another seller's couriers and draws never show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Account, ChannelShop, SalesOrder
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
    # courier, target, on the node (2 of 6: low), on the way, used, refused
    alarm = '<strong class="alarm">{}</strong>'
    assert cells == f"ZTO 6 {alarm.format(2)} 2 1 {alarm.format(1)}", cells
    assert "离线单号池" in admin.get("/web/waybills").text
    add_user(demo_app, "other", "boss", "admin")
    theirs = browser_client("other", "boss").get("/web/waybills", headers=EN).text
    assert "wh1-pack-9" not in theirs and "No node keeps an offline pool" in theirs
