"""The Channels pages (docs/dashboard.md, docs/channels.md): the shops with status, schedule,
last run and lag; a shop's runs and failed confirmations; "download now" (queued once, 409
with the API's sentence and nothing queued the second time); retry; scopes; text, never
markup. Without a scheduler (tests/cloud/conftest.py): queued runs stay queued here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.channels import shops
from cloud.db.models import Account, ChannelRun, ChannelShipment, ChannelShop, SalesOrder
from tests.cloud.web.conftest import AUDITED, add_user

EN = {"Accept-Language": "en"}
XSS = "<img src=x onerror=alert(1)>"


def seed_shop(
    app: TestClient,
    code: str = "tb1",
    account: str = "demo",
    *,
    status: str = "active",
    failed_shipment: bool = True,
    lag: timedelta = timedelta(minutes=3),
) -> int:
    """A shop with one finished run, a watermark ``lag`` ago and (on the demo account) a
    failed shipment confirmation of an order; returns the confirmation's id (or 0)."""
    now = datetime.now(UTC)
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account.id).where(Account.name == account)).scalar_one()
        shop = shops.add_shop(
            s,
            acct,
            shops.ShopIn(
                code=code,
                api_url="http://127.0.0.1:9/router/rest",
                app_key="12345678",
                app_secret="s",
                session_key="k",
                start_from=now - timedelta(days=1),
            ),
            now,
        )
        shop.status = status
        shop.status_reason = f"code 27 {XSS}" if status == "needs_reauth" else None
        shop.schedule_enabled, shop.interval_s = True, 300
        shops.advance_watermark(s, shop, "orders", now - lag, now)
        s.add(
            ChannelRun(
                account_id=acct,
                shop_id=shop.id,
                stream="orders",
                kind="download",
                owner="hub-1",
                started_at=now - timedelta(minutes=4),
                finished_at=now - timedelta(minutes=4),
                window_start=now - timedelta(minutes=20),
                window_end=now - lag,
                pages=7,
                calls=9,
                orders_new=41,
                orders_changed=5,
                orders_held=2,
                outcome="failed",
                error=f"isp.remote-service-error {XSS}",
            )
        )
        if not failed_shipment:
            return 0
        order_id = s.execute(
            select(SalesOrder.id).where(SalesOrder.order_no == AUDITED)
        ).scalar_one()
        row = ChannelShipment(
            account_id=acct,
            shop_id=shop.id,
            order_id=order_id,
            external_id=AUDITED,
            tracking_number="ZT777000111",
            carrier="ZTO",
            idempotency_key=f"{order_id}:ZT777000111",
            state="failed",
            attempts=20,
            next_try_at=now,
            error="unknown company_code ZTOX",
            created_at=now,
        )
        s.add(row)
        s.flush()
        return row.id


def _runs(app: TestClient, outcome: str) -> int:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return s.execute(
            select(func.count()).select_from(ChannelRun).where(ChannelRun.outcome == outcome)
        ).scalar_one()


def test_list_shows_status_schedule_last_run_and_lag(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    seed_shop(demo_app, "tb-parked", status="needs_reauth", failed_shipment=False)
    seed_shop(demo_app, "tb-late", failed_shipment=False, lag=timedelta(hours=5))
    a = browser_client()
    page = a.get("/web/channels", headers=EN)
    assert page.status_code == 200
    html = page.text
    assert 'href="/web/channels"' in html  # in the navigation
    assert "every 5 min" in html and "3 min" in html and "5 h" in html
    assert "41 / 5 / 2" in html and "7 pages" in html
    # a parked shop and a late one are alarmed
    assert html.count('<strong class="alarm">') == 2
    assert "needs re-authorisation" in html
    zh = a.get("/web/channels").text
    assert "需要重新授权" in zh and "渠道" in zh


def test_shop_page_download_now_queues_once_then_409_and_nothing_queued(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app)
    a = browser_client()
    page = a.get("/web/channels/tb1", headers=EN)
    assert page.status_code == 200
    assert "ZT777000111" in page.text and "unknown company_code ZTOX" in page.text
    assert "Download now" in page.text and "every 2s" not in page.text  # nothing to poll
    r = a.post("/web/channels/tb1/download", data={"csrf": a.csrf}, follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"] == "/web/channels/tb1?queued=1"
    assert _runs(demo_app, "queued") == 1
    page = a.get("/web/channels/tb1?queued=1", headers=EN).text
    assert "A download is queued" in page and 'hx-trigger="every 2s"' in page
    frag = a.get("/web/channels/tb1/runs", headers=EN)
    assert frag.status_code == 200 and "<html" not in frag.text and "queued" in frag.text
    again = a.post("/web/channels/tb1/download", data={"csrf": a.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert again.status_code == 409
    assert "is queued already" in again.text and "wait for it to finish" in again.text
    assert _runs(demo_app, "queued") == 1
    # the list says so too
    assert "queued" in a.get("/web/channels", headers=EN).text
    # once it ran, the fragment stops polling
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        run = s.execute(select(ChannelRun).where(ChannelRun.outcome == "queued")).scalar_one()
        run.outcome = "ok"
    assert "every 2s" not in a.get("/web/channels/tb1/runs").text


def test_download_now_of_a_parked_shop_is_refused_and_forged_csrf_runs_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app, status="needs_reauth", failed_shipment=False)
    a = browser_client()
    r = a.post("/web/channels/tb1/download", data={"csrf": a.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 409 and "authorise the app again" in r.text
    r = a.post("/web/channels/tb1/download", data={"csrf": "forged"})
    assert r.status_code == 403
    assert _runs(demo_app, "queued") == 0


def test_retry_a_failed_confirmation_once(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    sid = seed_shop(demo_app)
    a = browser_client()
    r = a.post(
        f"/web/channels/shipments/{sid}/retry", data={"csrf": a.csrf}, follow_redirects=False
    )  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"] == "/web/channels/tb1?retried=1"
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        row = s.get(ChannelShipment, sid)
        assert row is not None and (row.state, row.attempts) == ("pending", 0)
    assert "None failed." in a.get("/web/channels/tb1", headers=EN).text
    again = a.post(f"/web/channels/shipments/{sid}/retry", data={"csrf": a.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert again.status_code == 409 and "only a failed one is sent again" in again.text


def test_scopes_reader_sees_without_buttons_picker_sees_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    sid = seed_shop(demo_app)
    add_user(demo_app, "demo", "reader", "readonly")
    add_user(demo_app, "demo", "picky", "picker")
    reader = browser_client("demo", "reader")
    page = reader.get("/web/channels/tb1", headers=EN)
    assert page.status_code == 200 and "Download now" not in page.text
    assert "Send again" not in page.text
    r = reader.post("/web/channels/tb1/download", data={"csrf": reader.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 403
    r = reader.post(f"/web/channels/shipments/{sid}/retry", data={"csrf": reader.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 403
    picker = browser_client("demo", "picky")
    assert picker.get("/web/channels").status_code == 403
    assert 'href="/web/channels"' not in picker.get("/web/").text
    assert _runs(demo_app, "queued") == 0
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.get(ChannelShipment, sid).state == "failed"  # type: ignore[union-attr]


def test_shop_names_reasons_and_errors_are_text(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app, XSS, status="needs_reauth", failed_shipment=False)
    a = browser_client()
    for path in ("/web/channels", "/web/channels/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"):
        html = a.get(path).text
        assert XSS not in html, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path


def test_another_sellers_shop_is_404_and_unchanged(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    sid = seed_shop(demo_app)
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert "tb1" not in b.get("/web/channels").text
    assert b.get("/web/channels/tb1").status_code == 404
    assert b.get("/web/channels/tb1/runs").status_code == 404
    assert b.post("/web/channels/tb1/download", data={"csrf": b.csrf}).status_code == 404  # type: ignore[attr-defined]
    r = b.post(f"/web/channels/shipments/{sid}/retry", data={"csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404
    assert _runs(demo_app, "queued") == 0
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.get(ChannelShipment, sid).state == "failed"  # type: ignore[union-attr]
        assert s.execute(select(func.count()).select_from(ChannelShop)).scalar_one() == 1
