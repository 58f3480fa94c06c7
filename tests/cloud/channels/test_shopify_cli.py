"""``guanjia channels add-shop --kind shopify`` and a download by the CLI, against the
simulator's Shopify store over a real socket: the shop's kind chooses the adapter."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cloud.accounts import create_account
from cloud.cli import channels_app
from cloud.db.engine import session_factory, transaction
from cloud.db.models import ChannelOrder, ChannelShop
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market


def test_add_a_shopify_shop_and_download_it(engine: Engine, db_url: str, tmp_path: Path) -> None:
    market = Market(seed=12, now=time.time() - 900)
    app = MarketplaceApp(market)
    app.shopify.add_shop("cli.myshopify.com", "shpat-cli", "cli-app-secret")
    server = serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with transaction(session_factory(engine)) as s:
            create_account(s, "acme", datetime.now(UTC))
        with market.lock:
            tids = [market.place() for _ in range(3)]
            for tid in tids:
                market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
            market.now = time.time()
        secret = tmp_path / "secret"
        secret.write_text("cli-app-secret\n")
        runner = CliRunner()
        common = ["--account", "acme", "--database-url", db_url]
        site = f"http://127.0.0.1:{server.server_port}/admin/api/2024-10"
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        added = runner.invoke(
            channels_app,
            [
                "add-shop", "sh", "--kind", "shopify", "--api-url", site,
                "--app-key", "cli.myshopify.com", "--session-key", "shpat-cli",
                "--secret-file", str(secret), "--start-from", start, *common,
            ],
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        run = runner.invoke(channels_app, ["download", "--shop", "sh", *common])
        assert run.exit_code == 0, run.output
        result = orjson.loads(run.output)
        assert (result["outcome"], result["new"]) == ("ok", 3), result
        with session_factory(engine)() as s:
            shop = s.execute(select(ChannelShop)).scalar_one()
            stored = {
                r.external_id: r.trade_type for r in s.execute(select(ChannelOrder)).scalars()
            }
        assert (shop.platform, shop.app_secret) == ("shopify", "cli-app-secret")
        assert stored == {str(t): "shopify" for t in tids}
        bad = runner.invoke(
            channels_app,
            [
                "add-shop", "x", "--kind", "ebay", "--api-url", site, "--app-key", "k",
                "--session-key", "s", "--secret-file", str(secret), "--start-from", start,
                *common,
            ],
        )  # fmt: skip
        assert bad.exit_code == 1 and "no adapter for platform 'ebay'" in bad.output
    finally:
        server.shutdown()
        server.server_close()
