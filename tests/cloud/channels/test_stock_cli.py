"""``guanjia channels push-stock`` against the simulator over a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cloud.accounts import create_account
from cloud.catalogue.skus import SkuIn, upsert_sku
from cloud.channels import shops
from cloud.cli import channels_app
from cloud.db.engine import session_factory, transaction
from cloud.stock.ledger import receive
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market


@pytest.fixture
def sim() -> Iterator[tuple[Market, str]]:
    market = Market(seed=12, now=time.time())  # the CLI signs with the wall clock
    market.add_shop("12345678", "cli-secret", "cli-session", "cli-shop")
    server = serve(MarketplaceApp(market), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield market, f"http://127.0.0.1:{server.server_port}/router/rest"
    server.shutdown()
    server.server_close()


def test_push_stock(sim: tuple[Market, str], engine: Engine, db_url: str) -> None:
    market, url = sim
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as s:
        account = create_account(s, "acme", now)
        s.flush()
        create_warehouse(s, account.id, WarehouseIn(code="WH1", name="m", kind="main"), "t", now)
        for i, code in enumerate(market.skus):
            upsert_sku(s, SkuIn(sku_code=code, name=code, barcodes=[f"B{code}"]), now, account.id)
            receive(s, account.id, "WH1", code, 10 + i, "t", now)
        shops.add_shop(
            s,
            account.id,
            shops.ShopIn(
                code="tb",
                api_url=url,
                app_key="12345678",
                app_secret="cli-secret",
                session_key="cli-session",
                start_from=now,
            ),
            now,
        )
    runner = CliRunner()
    common = ["--shop", "tb", "--account", "acme", "--database-url", db_url]
    off = runner.invoke(channels_app, ["push-stock", *common])
    assert off.exit_code == 1 and "stock push is off for shop tb" in off.output
    assert market.stock.levels == {}
    on = runner.invoke(channels_app, ["push-stock", "--on", "--safety-stock", "1", *common])
    assert on.exit_code == 0, on.output
    counts = orjson.loads(on.output)
    assert counts["pushed"] == len(market.skus) and counts["failed"] == 0
    assert {s: q for (_, s), q in market.stock.levels.items()} == {
        code: 10 + i - 1 for i, code in enumerate(market.skus)
    }
    again = runner.invoke(channels_app, ["push-stock", *common])
    assert again.exit_code == 0 and orjson.loads(again.output)["unchanged"] == len(market.skus)
    bad = runner.invoke(channels_app, ["push-stock", "--on", "--share", "101", *common])
    assert bad.exit_code != 0
