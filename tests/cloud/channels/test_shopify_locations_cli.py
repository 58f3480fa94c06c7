"""``guanjia channels locations list|map|unmap`` against the simulator's Shopify over a real
socket (docs/channels.md "Several Shopify locations"): the same checks as the API — the id
read against the shop's ``locations.json``, bad input refused with a sentence and nothing
stored. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import orjson
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cloud.accounts import create_account
from cloud.channels import shops
from cloud.cli import channels_app
from cloud.db.channel_stock import ChannelShopLocation
from cloud.db.engine import session_factory, transaction
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.inventory import set_locations

DOMAIN, TOKEN = "clil.myshopify.com", "shpat-clil"
SZ, YW = 71001, 71002


def test_map_list_and_unmap_by_the_cli(engine: Engine, db_url: str) -> None:
    market = Market(seed=74, now=time.time())
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, TOKEN, "app-secret")
    with market.lock:
        set_locations(market, DOMAIN, [{"id": SZ, "name": "Shenzhen"}, {"id": YW, "name": "Yiwu"}])
    server = serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    factory = session_factory(engine)
    try:
        now = datetime.now(UTC)
        with transaction(factory) as s:
            account = create_account(s, "acme", now)
            s.flush()
            for code in ("WH1", "WH2"):
                create_warehouse(s, account.id, WarehouseIn(code=code, name=code), "t", now)
            shops.add_shop(
                s,
                account.id,
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
        cli = CliRunner()
        common = ["--shop", "sh", "--account", "acme", "--database-url", db_url]

        def stored() -> list[tuple[str, str]]:
            with factory() as s:
                rows = s.execute(select(ChannelShopLocation)).scalars()
                return sorted((r.warehouse, r.location_id) for r in rows)

        # Refused, each with its sentence, nothing stored.
        for args, said, status in (
            (["--warehouse", "WH1", "--location-id", "6500000001"], "is not one of shop sh", 1),
            (["--warehouse", "WH9", "--location-id", str(SZ)], "no warehouse 'WH9'", 1),
            (["--warehouse", "WH1", "--location-id", "71001;x"], "is digits", 2),
        ):
            bad = cli.invoke(channels_app, ["locations", "map", *common, *args])
            assert bad.exit_code == status, bad.output
            assert said in bad.output
            assert stored() == []

        done = cli.invoke(
            channels_app,
            ["locations", "map", *common, "--warehouse", "WH2", "--location-id", "71002"],
        )
        assert done.exit_code == 0, done.output
        row = orjson.loads(done.output)
        assert (row["warehouse"], row["location_id"], row["location_name"]) == (
            "WH2",
            "71002",
            "Yiwu",
        )
        assert row["changed_by"] == "cli"
        taken = cli.invoke(
            channels_app,
            ["locations", "map", *common, "--warehouse", "WH1", "--location-id", "71002"],
        )
        assert taken.exit_code == 1 and "is warehouse WH2's already" in taken.output
        listed = cli.invoke(channels_app, ["locations", "list", *common])
        assert listed.exit_code == 0, listed.output
        assert [orjson.loads(line)["warehouse"] for line in listed.output.splitlines()] == ["WH2"]

        gone = cli.invoke(channels_app, ["locations", "unmap", *common, "--warehouse", "WH2"])
        assert gone.exit_code == 0, gone.output
        assert stored() == []
        again = cli.invoke(channels_app, ["locations", "unmap", *common, "--warehouse", "WH2"])
        assert again.exit_code == 1 and "is not mapped to a location of shop sh" in again.output
    finally:
        server.shutdown()
        server.server_close()
