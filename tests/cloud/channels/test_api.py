"""The channels API on a running hub whose own scheduler thread does the work: "download now"
(202, then 409 while it is queued or running), runs, schedules, courier codes, an order's
shipment confirmations; scopes. Against the simulator over a real socket, on the wall clock.
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth import ROLES
from cloud.channels import shops
from cloud.settings import Settings
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Hub, ship, stock_up
from tests.cloud.conftest import account_id_of, make_account


@pytest.fixture
def sim() -> Iterator[tuple[Market, str]]:
    # The hub signs with the wall clock, so the simulator's clock is set to it.
    market = Market(seed=51, now=time.time() - 900)
    market.add_shop("12345678", "api-secret", "api-session", "api-shop")
    server = serve(MarketplaceApp(market), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield market, f"http://127.0.0.1:{server.server_port}/router/rest"
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub(db_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        mqtt_host="",
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        channels_poll_s=0.2,
        warm_on_start=False,
    )
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def _until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_download_now_runs_on_the_hubs_scheduler_and_the_shipment_is_confirmed(
    hub: TestClient, sim: tuple[Market, str]
) -> None:
    market, url = sim
    admin = make_account(hub, "acme")
    account_id = account_id_of(hub, admin)
    sessions = hub.app.state.sessions  # type: ignore[attr-defined]
    from cloud.db.engine import transaction
    from cloud.stock.warehouses import WarehouseIn, create_warehouse

    with transaction(sessions) as s:
        now = datetime.now(UTC)
        create_warehouse(s, account_id, WarehouseIn(code="WH1", name="main", kind="main"), "t", now)
        from cloud.catalogue.skus import SkuIn, upsert_sku

        for code in market.skus:
            upsert_sku(s, SkuIn(sku_code=code, name=code, barcodes=[f"BC-{code}"]), now, account_id)
        body = shops.ShopIn(
            code="tb",
            api_url=url,
            app_key="12345678",
            app_secret="api-secret",
            session_key="api-session",
            start_from=now - timedelta(hours=1),
        )
        shop = shops.add_shop(s, account_id, body, now)
        # Scheduled runs off: this test asks for its download by hand.
        shop.schedule_enabled, shop.next_run_at = False, now + timedelta(days=1)
    hub_ = Hub(sessions, account_id)
    stock_up(hub_)
    tid = market.place()
    market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    market.now = time.time() - 300  # paid five minutes ago: past the safety lag

    listed = hub.get("/api/v1/channels/shops", headers=admin).json()
    assert [(s["code"], s["schedule_enabled"], s["last_run"]) for s in listed] == [
        ("tb", False, None)
    ]
    r = hub.post("/api/v1/channels/shops/tb/download", headers=admin)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["outcome"] in ("queued", "running", "ok")

    def finished() -> Any:
        runs = hub.get("/api/v1/channels/runs", headers=admin).json()
        return runs if runs and runs[0]["outcome"] not in ("queued", "running") else None

    runs = _until(finished, "the run")
    assert [(x["id"], x["outcome"], x["orders_new"]) for x in runs] == [(run["id"], "ok", 1)]

    tracking = ship(hub_, str(tid), datetime.now(UTC))
    assert tracking

    def confirmed() -> Any:
        got = hub.get(f"/api/v1/channels/orders/{tid}/shipments", headers=admin).json()
        return got if got and got[0]["state"] != "pending" else None

    (row,) = _until(confirmed, "the confirmation")
    assert (row["state"], row["tracking_number"], row["error"]) == ("done", tracking, None)
    assert [(c["tid"], c["out_sid"]) for c in market.confirmations] == [(tid, tracking)]


def test_download_now_twice_is_409_and_scopes_hold(hub: TestClient) -> None:
    # No scheduler reaches this shop: its lease is held by a process that is "elsewhere".
    admin = make_account(hub, "acme")
    account_id = account_id_of(hub, admin)
    from cloud.db.engine import transaction

    with transaction(hub.app.state.sessions) as s:  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        body = shops.ShopIn(
            code="tb",
            api_url="http://127.0.0.1:9/router/rest",
            app_key="k",
            app_secret="s",
            session_key="x",
            start_from=now,
        )
        shop = shops.add_shop(s, account_id, body, now)
        shop.status, shop.status_reason = "active", None
        shop.lease_owner, shop.lease_until = "elsewhere:1", now + timedelta(hours=1)
    r = hub.post("/api/v1/channels/shops/tb/download", headers=admin)
    assert r.status_code == 409
    assert r.json()["detail"] == "shop tb is being downloaded by another hub process right now"
    with transaction(hub.app.state.sessions) as s:  # type: ignore[attr-defined]
        row = s.get_one(type(shop), shop.id)
        row.lease_owner = row.lease_until = None
        row.schedule_enabled, row.next_run_at = False, None
        row.api_url = "http://127.0.0.1:9/router/rest"
    hub.app.state.channels.stop()  # type: ignore[attr-defined]  # nothing runs it now
    first = hub.post("/api/v1/channels/shops/tb/download", headers=admin)
    assert first.status_code == 202 and first.json()["outcome"] == "queued"
    again = hub.post("/api/v1/channels/shops/tb/download", headers=admin)
    assert again.status_code == 409
    assert "queued already" in again.json()["detail"]
    assert [x["outcome"] for x in hub.get("/api/v1/channels/runs", headers=admin).json()] == [
        "queued"
    ]
    # A schedule out of range: 422, and the schedule stays as it was.
    bad = hub.put("/api/v1/channels/shops/tb/schedule", headers=admin, json={"interval_s": 5})
    assert bad.status_code == 422
    (listed,) = hub.get("/api/v1/channels/shops", headers=admin).json()
    assert (listed["interval_s"], listed["schedule_enabled"]) == (300, False)
    ok = hub.put("/api/v1/channels/shops/tb/schedule", headers=admin, json={"interval_s": 600})
    assert ok.status_code == 200 and ok.json()["interval_s"] == 600
    mapped = hub.put(
        "/api/v1/channels/shops/tb/couriers/ZTO", headers=admin, json={"company_code": "ZTO"}
    )
    assert mapped.json() == {"shop": "tb", "carrier": "ZTO", "company_code": "ZTO"}
    assert hub.get("/api/v1/channels/orders/NOPE/shipments", headers=admin).status_code == 404

    readonly = make_account(hub, "acme", role="readonly", account_id=account_id)
    assert hub.get("/api/v1/channels/shops", headers=readonly).status_code == 200
    assert hub.post("/api/v1/channels/shops/tb/download", headers=readonly).status_code == 403
    picker = make_account(hub, "acme", role="picker", account_id=account_id)
    assert hub.get("/api/v1/channels/runs", headers=picker).status_code == 403
    # The auditor (who handles orders as they come in) may ask for a download; a picker may
    # not even see the shops (each login costs two password hashes: checked on the table).
    assert {"channels:read", "channels:write"} <= ROLES["auditor"]
    assert not {"channels:read", "channels:write"} & ROLES["picker"]
