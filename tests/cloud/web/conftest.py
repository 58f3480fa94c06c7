"""Dashboard fixtures: the demo seller (orders audited by the rules, one held), a second seller,
and browser-like clients logged in through the login page (cookie session + CSRF)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cloud import accounts
from cloud.db.models import Account
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD
from tests.support.browser import browser  # noqa: F401  (the session fixture)

NODE = "wh1-pack-1"
HELD = "JY1300004"  # held for its buyer remark (cloud/seed.py)
AUDITED = "JY1300002"  # audited by the Hunan rule, ready to release


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def web_login(client: TestClient, account: str, username: str, password: str = PASSWORD) -> str:
    """Log in through the login page; returns the session's CSRF token (from the home page)."""
    page = client.get("/web/login")
    assert page.status_code == 200
    r = client.post(
        "/web/login",
        data={
            "account": account,
            "username": username,
            "password": password,
            "csrf": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/web/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


def add_user(client: TestClient, account: str, username: str, role: str) -> None:
    from sqlalchemy import select

    with client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account).where(Account.name == account)).scalar_one_or_none()
        now = datetime.now(UTC)
        if acct is None:
            acct = accounts.create_account(s, account, now)
        accounts.create_user(s, acct.id, username, PASSWORD, role, "test", now)


@pytest.fixture
def demo_app(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
    return app_client


@pytest.fixture
def browser_client(demo_app: TestClient) -> Callable[..., TestClient]:
    """A new cookie jar on the same app (a second person, another browser)."""

    def make(account: str = "demo", username: str = "admin") -> TestClient:
        c = TestClient(demo_app.app, base_url="http://testserver")
        c.csrf = web_login(c, account, username)  # type: ignore[attr-defined]
        return c

    return make


def count_variance(client: TestClient) -> str:
    """A count-variance task of the demo seller (a node counted one less than expected), as
    ingest opens it (cloud/facts/); returns its public id."""
    import uuid

    from sqlalchemy import select

    from cloud.db.engine import transaction
    from cloud.db.models import BinLevel, Task
    from cloud.sync.ingest import apply_batch
    from protocol import codec
    from protocol.messages import CountedLine, StocktakeCounted, StocktakeCountedPayload

    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        level = s.execute(select(BinLevel).where(BinLevel.qty > 1)).scalars().first()
        assert level is not None
        b, sku, qty = level.bin_code, level.sku_code, level.qty
    count = StocktakeCounted(
        node=NODE,
        epoch=1,
        seq=1,
        id=uuid.uuid4(),
        hlc=1,
        payload=StocktakeCountedPayload(
            count_id="C-1",
            warehouse="WH1",
            method="rfid",
            scope="partial",
            station="count-1",
            lines=[CountedLine(bin=b, sku_code=sku, expected=qty, counted=qty - 1)],
        ),
    )
    batch = codec.decode_batch(codec.encode_batch(NODE, [codec.encode_event(count)]), NODE)
    with transaction(sessions) as s:
        apply_batch(s, batch, datetime.now(UTC))
    with sessions() as s:
        return s.execute(select(Task.public_id).where(Task.kind == "count_variance")).scalar_one()
