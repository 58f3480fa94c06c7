"""Webhook subscriptions through Shopify's Admin REST API (``webhooks.json``), docs/channels.md
"The Shopify shape": the simulator's endpoints and refusals, the hub subscribing its topics
when a shop is added or re-authorised (idempotent: kept, not doubled; a lost answer retried
is kept), a shop Shopify refuses not saved, and the events delivered to the subscribed
address. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cloud.accounts import create_account
from cloud.channels.shopify.client import AdminClient
from cloud.channels.shopify.subscriptions import TOPICS, ShopifySubscriptions
from cloud.cli import channels_app
from cloud.db.engine import session_factory, transaction
from cloud.db.models import ChannelShop
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market

SITE = "http://sim/admin/api/2024-10"
TOKEN = {"X-Shopify-Access-Token": "shpat-sub"}


def _app() -> MarketplaceApp:
    app = MarketplaceApp(Market(seed=5))
    app.shopify.add_shop("sub.myshopify.com", "shpat-sub", "sub-secret")
    return app


def test_the_simulated_webhooks_json_makes_lists_refuses_and_deletes() -> None:
    http = httpx.Client(transport=httpx.WSGITransport(app=_app()))
    hook = {"topic": "orders/updated", "address": "https://hub.example/h", "format": "json"}
    made = http.post(f"{SITE}/webhooks.json", json={"webhook": hook}, headers=TOKEN)
    assert made.status_code == 201, made.text
    row = made.json()["webhook"]
    assert {k: row[k] for k in ("topic", "address", "format")} == hook
    again = http.post(f"{SITE}/webhooks.json", json={"webhook": hook}, headers=TOKEN)
    assert again.status_code == 422
    assert again.json() == {"errors": {"address": ["for this topic has already been taken"]}}
    bad = http.post(
        f"{SITE}/webhooks.json", json={"webhook": {**hook, "topic": "orders/eaten"}}, headers=TOKEN
    )
    assert bad.status_code == 422 and "Invalid topic specified" in bad.text
    listed = http.get(f"{SITE}/webhooks.json", headers=TOKEN).json()["webhooks"]
    assert [w["id"] for w in listed] == [row["id"]]  # the refused ones changed nothing
    filtered = http.get(f"{SITE}/webhooks.json?topic=orders/create", headers=TOKEN).json()
    assert filtered == {"webhooks": []}
    assert http.delete(f"{SITE}/webhooks/{row['id']}.json", headers=TOKEN).status_code == 200
    assert http.delete(f"{SITE}/webhooks/{row['id']}.json", headers=TOKEN).status_code == 404
    assert http.get(f"{SITE}/webhooks.json", headers=TOKEN).json() == {"webhooks": []}
    assert (
        http.get(f"{SITE}/webhooks.json", headers={"X-Shopify-Access-Token": "x"}).status_code
        == 401
    )


def test_a_subscription_whose_answer_was_lost_is_kept_not_doubled() -> None:
    """Fault injection: the first ``POST webhooks.json`` is made on the shop but its answer
    is lost (a 504 page); the client sends it again, meets the 422 "already been taken",
    and counts it kept: one subscription per topic."""
    app = _app()
    inner = httpx.WSGITransport(app=app)
    lost: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answer = inner.handle_request(request)
        if request.method == "POST" and not lost:
            answer.read()
            lost.append(request.url.path)
            return httpx.Response(504, headers={"Content-Type": "text/html"}, content=b"<html/>")
        return answer

    admin = AdminClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        SITE,
        "shpat-sub",
        now=lambda: datetime.now(UTC),
        sleep=lambda _s: None,
    )
    done = ShopifySubscriptions(admin).ensure("https://hub.example/h")
    assert lost and done == {TOPICS[0]: "kept", **dict.fromkeys(TOPICS[1:], "made")}
    listed = ShopifySubscriptions(admin).listed()
    assert sorted(w["topic"] for w in listed) == sorted(TOPICS)


def test_the_cli_subscribes_a_shopify_shop_once_and_refuses_one_shopify_refuses(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """``add-shop --hub-url`` subscribes the four topics at the shop's address before the
    shop is saved; ``reauthorise`` with the new token keeps them (not doubled); a token
    Shopify refuses: exit 1 with the sentence, no shop saved; the simulator then sends an
    order's webhook to the subscribed address."""
    market = Market(seed=13, now=time.time() - 900)
    app = MarketplaceApp(market)
    app.shopify.add_shop("cli.myshopify.com", "shpat-cli", "cli-app-secret")
    server = serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with transaction(session_factory(engine)) as s:
            create_account(s, "acme", datetime.now(UTC))
        secret = tmp_path / "secret"
        secret.write_text("cli-app-secret\n")
        runner = CliRunner()
        common = ["--account", "acme", "--database-url", db_url]
        site = f"http://127.0.0.1:{server.server_port}/admin/api/2024-10"
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        hub = "https://hub.example.com"
        address = f"{hub}/api/v1/channels/webhooks/shopify/sh"

        def add(code: str, token: str) -> object:
            return runner.invoke(
                channels_app,
                [
                    "add-shop", code, "--kind", "shopify", "--api-url", site,
                    "--app-key", "cli.myshopify.com", "--session-key", token,
                    "--secret-file", str(secret), "--start-from", start, "--hub-url", hub,
                    *common,
                ],
            )  # fmt: skip

        refused = add("nope", "shpat-wrong")
        assert refused.exit_code == 1  # type: ignore[attr-defined]
        assert "could not subscribe shop nope's webhooks on Shopify" in refused.output  # type: ignore[attr-defined]
        added = add("sh", "shpat-cli")
        assert added.exit_code == 0, added.output  # type: ignore[attr-defined]
        assert "orders/create made" in added.output  # type: ignore[attr-defined]

        def listed() -> list[tuple[str, str]]:
            got = httpx.get(
                f"{site}/webhooks.json", headers={"X-Shopify-Access-Token": "shpat-cli2"}
            )
            return sorted((w["topic"], w["address"]) for w in got.json()["webhooks"])

        with market.lock:
            app.shopify.reauthorise("shpat-cli", "shpat-cli2")
        key = tmp_path / "key"
        key.write_text("shpat-cli2\n")
        again = runner.invoke(
            channels_app,
            ["reauthorise", "sh", "--key-file", str(key), "--hub-url", hub, *common],
        )
        assert again.exit_code == 0, again.output
        assert "orders/create kept" in again.output and "made" not in again.output
        assert listed() == sorted((t, address) for t in TOPICS)
        with session_factory(engine)() as s:
            saved = {(r.code, r.session_key) for r in s.execute(select(ChannelShop)).scalars()}
        assert saved == {("sh", "shpat-cli2")}  # the refused shop was not saved
        # The simulator sends to the subscribed address (no control-plane address set).
        sent: list[str] = []
        with market.lock:
            tid = market.place()
            market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
            app.shopify.webhooks.collect(["cli.myshopify.com"])
            app.shopify.webhooks.deliver(lambda url, _h, _b: sent.append(url) or 200)
        assert sent and set(sent) == {address}
    finally:
        server.shutdown()
        server.server_close()
