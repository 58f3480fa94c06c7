"""A shop's later life on its page (docs/channels.md, docs/dashboard.md): the stock push with
its policy form, refunds, the changes that reached our orders, the SKU mapping with its form,
the daily diff. The same rows as the API; bad figures 422 with nothing changed; scopes;
text, never markup; zh_CN."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.channel_changes import ChannelChange, ChannelRefund, ChannelSkuMap
from cloud.db.channel_diff import ChannelDiff
from cloud.db.channel_stock import ChannelStockItem, ChannelStockPolicy
from cloud.db.models import ChannelShop, SalesOrder, Sku
from tests.cloud.web.conftest import AUDITED, add_user
from tests.cloud.web.test_channel_pages import EN, XSS, seed_shop


def seed_later(app: TestClient) -> None:
    now = datetime.now(UTC)
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        shop = s.execute(select(ChannelShop).where(ChannelShop.code == "tb1")).scalar_one()
        acct, sid = shop.account_id, shop.id
        order_id = s.execute(
            select(SalesOrder.id).where(SalesOrder.order_no == AUDITED)
        ).scalar_one()
        s.add(
            ChannelStockItem(
                account_id=acct,
                shop_id=sid,
                sku_code="SKU-PUSHED",
                dirty=False,
                state="failed",
                error=f"isv.item-quantity-update-error {XSS}",
                target=17,
                channel_qty=15,
                pushed_at=now,
            )
        )
        s.add(
            ChannelRefund(
                account_id=acct,
                shop_id=sid,
                refund_id="RF-8801",
                external_id="T-5501",
                oid="O-1",
                status="WAIT_SELLER_AGREE",
                phase="onsale",
                refund_fee=Decimal("12.30"),
                modified=now,
                payload={},
                first_seen_at=now,
                changed_at=now,
            )
        )
        s.add(
            ChannelChange(
                account_id=acct,
                shop_id=sid,
                external_id="T-5501",
                order_id=order_id,
                kind="address",
                change_key="k1",
                outcome="held",
                detail=f"address changed after the audit {XSS}",
                at=now,
            )
        )
        s.add(
            ChannelDiff(
                shop_id=sid,
                account_id=acct,
                next_diff_at=now + timedelta(hours=20),
                last_diff_at=now - timedelta(hours=4),
                last_found=2,
                found_total=3,
                last_outcome="ok",
            )
        )


def test_the_shop_page_shows_push_refunds_changes_mapping_and_diff(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    seed_later(demo_app)
    a = browser_client()
    html = a.get("/web/channels/tb1", headers=EN).text
    assert "Stock push" in html and "SKU-PUSHED" in html and "<td>17</td>" in html
    assert "RF-8801" in html and "12.30" in html
    assert "T-5501" in html and f'href="/web/orders/{AUDITED}"' in html and "held" in html
    assert '<strong class="alarm">2</strong>' in html  # the diff found orders the list missed
    assert XSS not in html and "&lt;img src=x" in html  # text, never markup
    zh = a.get("/web/channels/tb1").text
    assert "库存同步" in zh and "退款" in zh and "商品编码对应" in zh


def test_the_policy_form_saves_once_and_bad_figures_change_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    a = browser_client()
    form = {"csrf": a.csrf, "enabled": "on", "safety_stock": "5", "share_pct": "80"}  # type: ignore[attr-defined]
    r = a.post("/web/channels/tb1/stock-policy", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/channels/tb1?policy=1"
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        row = s.execute(select(ChannelStockPolicy)).scalar_one()
        assert (row.enabled, row.safety_stock, row.share_pct) == (True, 5, 80)
    labels = {"share_pct": "Share takes", "safety_stock": "Safety stock takes"}
    for field, value in (("share_pct", "101"), ("share_pct", "8.5"), ("safety_stock", "-1")):
        bad = {**form, field: value, "enabled": ""}
        r = a.post("/web/channels/tb1/stock-policy", data=bad, headers=EN)
        assert r.status_code == 422 and labels[field] in r.text and "whole number" in r.text
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        row = s.execute(select(ChannelStockPolicy)).scalar_one()
        assert (row.enabled, row.safety_stock, row.share_pct) == (True, 5, 80)
    page = a.get("/web/channels/tb1?policy=1", headers=EN).text
    assert "every SKU will be pushed again" in page and 'name="enabled" checked' in page
    zh = a.post("/web/channels/tb1/stock-policy", data={**form, "share_pct": "x"})
    assert zh.status_code == 422 and "整数" in zh.text and "share_pct 须为" not in zh.text


def test_mapping_a_sku_from_the_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        ours = s.execute(select(Sku.sku_code).order_by(Sku.sku_code).limit(1)).scalar_one()
    a = browser_client()
    data = {"csrf": a.csrf, "outer_sku_id": "TB-RED-XL", "sku_code": ours}  # type: ignore[attr-defined]
    r = a.post("/web/channels/tb1/skus", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/channels/tb1?mapped=0"
    r = a.post("/web/channels/tb1/skus", data={**data, "sku_code": "NO-SUCH"}, headers=EN)
    assert r.status_code == 422 and "no SKU NO-SUCH in the catalogue" in r.text
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(ChannelSkuMap)).scalars().all()
        assert [(m.outer_sku_id, m.sku_code) for m in rows] == [("TB-RED-XL", ours)]
    html = a.get("/web/channels/tb1?mapped=0", headers=EN).text
    assert "TB-RED-XL" in html and "Held trades that became orders: 0" in html


def test_a_reader_sees_no_forms_and_is_refused(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    add_user(demo_app, "demo", "reader", "readonly")
    reader = browser_client("demo", "reader")
    html = reader.get("/web/channels/tb1", headers=EN).text
    assert (
        "Stock push" in html
        and 'name="share_pct"' not in html
        and 'name="outer_sku_id"' not in html
    )
    form = {"csrf": reader.csrf, "enabled": "on", "safety_stock": "0", "share_pct": "100"}  # type: ignore[attr-defined]
    assert reader.post("/web/channels/tb1/stock-policy", data=form).status_code == 403
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(ChannelStockPolicy)).first() is None


def test_another_sellers_shop_forms_are_404_and_change_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    form = {"csrf": b.csrf, "enabled": "on", "safety_stock": "0", "share_pct": "100"}  # type: ignore[attr-defined]
    assert b.post("/web/channels/tb1/stock-policy", data=form).status_code == 404
    data = {"csrf": b.csrf, "outer_sku_id": "X", "sku_code": "Y"}  # type: ignore[attr-defined]
    assert b.post("/web/channels/tb1/skus", data=data).status_code == 404
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(ChannelStockPolicy)).first() is None
        assert s.execute(select(ChannelSkuMap)).first() is None
