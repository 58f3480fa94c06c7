"""The Shopify locations routes on a running hub, against the simulator over a real socket
(docs/channels.md "Several Shopify locations"): a mapping is checked against the shop's
``locations.json`` read at that moment (an id the shop does not list: 422 with the sentence,
nothing stored); a reader is refused; the hub's own scheduler then pushes each mapped
location from its warehouse's figure and leaves the unmapped one alone; unmapping stops the
pushes. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.catalogue.skus import SkuIn, upsert_sku
from cloud.channels import shops
from cloud.db.engine import transaction
from cloud.settings import Settings
from cloud.stock.ledger import receive
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.inventory import set_locations
from tests.cloud.conftest import account_id_of, make_account

DOMAIN, TOKEN = "loc.myshopify.com", "shpat-loc"
SZ, YW, SPARE = 71001, 71002, 71003


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


def _until(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_mapping_checked_against_the_shop_and_pushed_per_location(hub: TestClient) -> None:
    market = Market(seed=71, now=time.time())
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, TOKEN, "app-secret")
    with market.lock:
        set_locations(
            market,
            DOMAIN,
            [
                {"id": SZ, "name": "Shenzhen"},
                {"id": YW, "name": "Yiwu"},
                {"id": SPARE, "name": "X"},
            ],
        )
        market.stock.limited.add(DOMAIN)
    server = serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = make_account(hub, "acme")
        account_id = account_id_of(hub, admin)
        sessions = hub.app.state.sessions  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        with transaction(sessions) as s:
            for code, name in (("WH1", "shenzhen"), ("WH2", "yiwu"), ("WH3", "spare")):
                create_warehouse(s, account_id, WarehouseIn(code=code, name=name), "t", now)
            for code in market.skus:
                upsert_sku(
                    s, SkuIn(sku_code=code, name=code, barcodes=[f"BC-{code}"]), now, account_id
                )
                receive(s, account_id, "WH1", code, 6, "t", now)
                receive(s, account_id, "WH2", code, 3, "t", now)
                receive(s, account_id, "WH3", code, 40, "t", now)
            shop = shops.add_shop(
                s,
                account_id,
                shops.ShopIn(
                    code="sh",
                    platform="shopify",
                    api_url=f"http://127.0.0.1:{server.server_port}/admin/api/2024-10",
                    app_key=DOMAIN,
                    app_secret="app-secret",
                    session_key=TOKEN,
                    start_from=now,
                ),
                now,
            )
            shop.schedule_enabled, shop.next_run_at = False, now + timedelta(days=1)
        base = "/api/v1/channels/shops/sh/locations"

        # An id the shop does not list: 422 with the sentence naming its locations.
        bad = hub.put(f"{base}/WH1", headers=admin, json={"location_id": "6500000001"})
        assert bad.status_code == 422, bad.text
        assert "is not one of shop sh's active locations" in bad.text
        assert f"{SZ} Shenzhen" in bad.text
        for body in ({"location_id": "abc"}, {"location_id": SZ}, {}, {"location_id": "1", "x": 1}):
            assert hub.put(f"{base}/WH1", headers=admin, json=body).status_code == 422, body
        reader = make_account(hub, "acme", role="readonly", account_id=account_id)
        denied = hub.put(f"{base}/WH1", headers=reader, json={"location_id": str(SZ)})
        assert denied.status_code == 403
        assert hub.get(base, headers=reader).json() == []

        for wh, loc in (("WH1", SZ), ("WH2", YW)):
            ok = hub.put(f"{base}/{wh}", headers=admin, json={"location_id": str(loc)})
            assert ok.status_code == 200, ok.text
        got = hub.get(base, headers=reader).json()
        assert [(r["warehouse"], r["location_id"], r["location_name"]) for r in got] == [
            ("WH1", str(SZ), "Shenzhen"),
            ("WH2", str(YW), "Yiwu"),
        ]
        policy = {"enabled": True, "safety_stock": 0, "share_pct": 100}
        put = hub.put("/api/v1/channels/shops/sh/stock-policy", headers=admin, json=policy)
        assert put.status_code == 200

        def levels(location: int) -> list[int]:
            with market.lock:
                return [market.stock.level_at(DOMAIN, c, location) for c in market.skus]

        n = len(market.skus)
        _until(lambda: levels(SZ) == [6] * n and levels(YW) == [3] * n, "the push per location")
        assert levels(SPARE) == [0] * n  # WH3 is not mapped: never pushed

        # The shop's stock rows: each mapped location's figure shown and quantity there
        # (once the scheduler's pushes have written them all).
        def per_location() -> list[list[tuple[str, str, int | None, int | None]]]:
            rows = hub.get("/api/v1/channels/shops/sh/stock", headers=reader).json()
            return [
                [
                    (a["warehouse"], a["location_id"], a["pushed"], a["channel_quantity"])
                    for a in row["locations"]
                ]
                for row in rows
            ]

        want = [("WH1", str(SZ), 6, 6), ("WH2", str(YW), 3, 3)]
        _until(lambda: per_location() == [want] * n, "each location's row in the stock table")

        # Unmapped: WH2's stock no longer reaches Yiwu.
        assert hub.delete(f"{base}/WH2", headers=admin).status_code == 204
        assert hub.delete(f"{base}/WH2", headers=admin).status_code == 404
        with transaction(sessions) as s:
            receive(s, account_id, "WH2", market.skus[0], 5, "t", datetime.now(UTC))
            receive(s, account_id, "WH1", market.skus[0], 1, "t", datetime.now(UTC))
        _until(lambda: levels(SZ)[0] == 7, "WH1's change pushed")
        assert levels(YW) == [3] * n
    finally:
        server.shutdown()
        server.server_close()
