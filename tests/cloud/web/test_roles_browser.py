"""Each role logs in in Chromium and sees exactly what its scopes allow: the menu offers the
pages its scopes open, every other page answers a 403 page naming the missing scope, and an
order's actions appear only for the roles that may take them (the API's scope rule,
cloud/auth.py ROLES, applied by cloud/web/deps.py). And two sellers' admins side by side in
two browsers: neither sees the other's data on any page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth import ROLES
from cloud.seed import seed_demo
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD
from tests.cloud.web.conftest import AUDITED, HELD, NODE, add_user
from tests.support.served import served

pytestmark = pytest.mark.browser
SKU = "金甲系列皮套"  # one of the demo seller's SKU codes (cloud/seed.py)

# page → the scope its handler declares (cloud/web/pages/*), as a person reaches it from the menu
PAGES = {
    "/web/audit": "orders:read",
    "/web/orders": "orders:read",
    "/web/rules": "orders:read",
    "/web/stock": "stock:read",
    "/web/tasks": "tasks:read",
    "/web/fleet": "nodes:read",
    "/web/users": "users:admin",
    "/web/finance": "finance:read",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('roles') / 'hub.db'}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
    )
    app = create_app(settings, ingest=False)
    with served(app) as base:
        with app.state.sessions() as s, s.begin():
            seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
        client = TestClient(app)
        client.app.state = app.state  # type: ignore[attr-defined]
        for role in ROLES:
            add_user(client, "demo", f"as-{role}", role)
        add_user(client, "other", "boss", "admin")  # a second seller, admin of its own account
        yield base


def _logged_in(browser: Any, hub: str, account: str, username: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{hub}/web/login")
    page.fill("#account", account)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub}/web/")
    return page


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_sees_what_its_scopes_allow(browser: Any, hub: str, role: str) -> None:
    scopes = ROLES[role]
    page = _logged_in(browser, hub, "demo", f"as-{role}")

    menu = {
        href
        for href in page.locator("nav a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
        if href in PAGES
    }
    assert menu == {p for p, scope in PAGES.items() if scope in scopes}, role

    for path, scope in PAGES.items():
        answer = page.goto(hub + path)
        assert answer is not None
        if scope in scopes:
            assert answer.status == 200, (role, path)
        else:
            assert answer.status == 403, (role, path)
            assert scope in page.inner_text("main"), (role, path)

    page.goto(f"{hub}/web/orders/{AUDITED}")
    release = page.locator("form[action$='/release'] button")
    assert (release.count() > 0) == ("orders:audit" in scopes), role
    page.context.close()


def test_two_sellers_side_by_side_see_only_their_own(browser: Any, hub: str) -> None:
    """Two admins of two sellers in two browsers: every page the menu offers shows the demo
    seller's orders, node and SKUs to the demo admin and none of them to the other, and the
    demo seller's order, node and SKU pages are 404 for the other (tests/cloud/web/
    test_tenancy.py does the same for every route without a browser)."""
    mine = _logged_in(browser, hub, "demo", "as-admin")
    theirs = _logged_in(browser, hub, "other", "boss")
    menu = mine.locator("nav a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert set(PAGES) <= set(menu)
    secrets = (HELD, AUDITED, NODE, SKU)
    seen: set[str] = set()
    for path in menu:
        mine.goto(hub + path)
        answer = theirs.goto(hub + path)
        assert answer is not None and answer.status == 200, path
        text = theirs.inner_text("body")
        assert not [x for x in secrets if x in text], path
        seen |= {x for x in secrets if x in mine.inner_text("body")}
    assert seen == set(secrets)  # the walk would have shown them: the check can fail
    for path in (f"/web/orders/{HELD}", f"/web/fleet/{NODE}", f"/web/skus/{SKU}"):
        answer = theirs.goto(hub + path)
        assert answer is not None and answer.status == 404, path
    mine.context.close()
    theirs.context.close()
