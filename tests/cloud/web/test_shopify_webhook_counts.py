"""A Shopify shop's refused and repeated webhooks on its page and in ``/metrics``
(docs/channels.md "The Shopify shape", rule 7): sent through the real route, a stale one and
one sent twice are counted for the shop, per reason; a forged one (bad signature) is
nobody's (the metrics count it); a refusal another seller's secret verified is that
seller's only; a Taobao shop has no such
section; English and Chinese. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.accounts import create_account
from cloud.channels import shops
from cloud.channels.shopify.webhooks import signature
from cloud.db.models import Account
from tests.cloud.web.test_channel_pages import EN, seed_shop

CODE = "shw"
URL = f"/api/v1/channels/webhooks/shopify/{CODE}"


def _shop(client: TestClient, account_name: str, secret: str, domain: str) -> None:
    now = datetime.now(UTC)
    with client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        account = s.execute(
            select(Account.id).where(Account.name == account_name)
        ).scalar_one_or_none()
        if account is None:
            account = create_account(s, account_name, now).id
        shops.add_shop(
            s,
            account,
            shops.ShopIn(
                code=CODE,
                api_url="http://127.0.0.1:9/admin/api/2024-10",
                app_key=domain,
                app_secret=secret,
                session_key="shpat-x",
                start_from=now,
                platform="shopify",
            ),
            now,
        )


def _send(
    client: TestClient, secret: str, domain: str, event: str, at: datetime, sign: bool = True
) -> int:
    body = orjson.dumps({"id": 4242, "updated_at": at.isoformat()})
    headers = {
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-Event-Id": event,
        "X-Shopify-Triggered-At": at.isoformat(),
        "X-Shopify-Hmac-Sha256": signature(secret, body) if sign else "Zm9yZ2Vk",
        "Content-Type": "application/json",
    }
    return client.post(URL, content=body, headers=headers).status_code


def test_a_shopify_shops_refused_and_repeated_webhooks_are_on_its_page_and_in_metrics(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    _shop(demo_app, "demo", "demo-secret", "demo.myshopify.com")
    _shop(demo_app, "elsewhere", "other-secret", "other.myshopify.com")
    seed_shop(demo_app)  # a Taobao shop (tb1): no webhook section
    now = datetime.now(UTC)
    assert _send(demo_app, "demo-secret", "demo.myshopify.com", "e1", now) == 200
    assert _send(demo_app, "demo-secret", "demo.myshopify.com", "e1", now) == 200  # again
    old = now - timedelta(days=3)
    assert _send(demo_app, "demo-secret", "demo.myshopify.com", "e2", old) == 401  # stale
    assert _send(demo_app, "x", "demo.myshopify.com", "e3", now, sign=False) == 401  # forged
    # Another seller's shop of the same code: its stale refusal is its own.
    assert _send(demo_app, "other-secret", "other.myshopify.com", "e4", old) == 401
    page = browser_client().get(f"/web/channels/{CODE}", headers=EN).text
    section = page[page.index("Webhooks refused or sent again") :]

    def row(words: str) -> str:
        found = re.search(rf"<td>{re.escape(words)}</td><td>(\d+)</td>", section)
        return found.group(1) if found else "-"

    assert "bad_signature" not in section  # nobody's: /metrics only (below)
    assert row("too old or ahead of time") == "1"  # not 2: the other seller's is theirs
    assert row("sent again (a duplicate, not acted on twice)") == "1"
    zh = browser_client().get(f"/web/channels/{CODE}").text
    assert "被拒绝或重复发送的 webhook" in zh and "时间过旧或超前" in zh
    taobao = browser_client().get("/web/channels/tb1", headers=EN).text
    assert "Webhooks refused or sent again" not in taobao
    settings = demo_app.app.state.settings  # type: ignore[attr-defined]
    settings.metrics_token = "m" * 32
    try:
        text = demo_app.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32}).text
    finally:
        settings.metrics_token = None

    def metric(outcome: str, reason: str) -> float:
        labels = f'outcome="{outcome}",platform="shopify",reason="{reason}"'
        found = re.search(r"guanjia_channel_webhooks_total\{" + labels + r"\} (\S+)", text)
        return float(found.group(1)) if found else 0.0

    # Process-wide counters (other tests of this process may add): at least these.
    assert metric("refused", "stale") >= 2 and metric("refused", "bad_signature") >= 1
    assert metric("duplicate", "") >= 1 and metric("accepted", "") >= 1
