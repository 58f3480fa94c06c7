"""Cloud API fixtures: an app per database, and logged-in clients of two seller accounts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloud.app import create_app
from cloud.settings import Settings

PASSWORD = "correct horse battery"


def login(
    client: TestClient, username: str, password: str = PASSWORD, *, account: str
) -> dict[str, str]:
    """Log in as ``username`` of the seller account named ``account`` (cloud/api/auth.py)."""
    r = client.post(
        "/api/v1/auth/token",
        data={"account": account, "username": username, "password": password},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def make_account(
    client: TestClient, name: str, role: str = "admin", account_id: int | None = None
) -> dict[str, str]:
    """An account with one user of ``role`` (created through the domain, as the CLI does)."""
    from cloud import accounts
    from cloud.db.models import Account

    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s, s.begin():
        now = datetime.now(UTC)
        acct = account_id or accounts.create_account(s, name, now).id
        accounts.create_user(s, acct, f"{name}-{role}", PASSWORD, role, "test", now)
        account = s.get_one(Account, acct).name
    return login(client, f"{name}-{role}", account=account)


def account_id_of(client: TestClient, headers: dict[str, str] | None = None) -> int:
    """The serial key of the account the caller belongs to (the API shows only its name)."""
    from sqlalchemy import select

    from cloud.db.models import Account

    name = client.get("/api/v1/auth/me", headers=headers).json()["account"]
    # A reader (deferred BEGIN on SQLite): callers may hold a write session meanwhile.
    with client.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        return int(s.execute(select(Account.id).where(Account.name == name)).scalar_one())


@pytest.fixture
def app_client(db_url: str) -> Iterator[TestClient]:
    app = create_app(
        Settings(
            database_url=db_url,
            mqtt_host="",
            jwt_secret="test-secret-of-at-least-32-bytes-long",
            # Tests tick the channel scheduler themselves (tests/cloud/channels): a tick of
            # its own in the middle of a test would change the rows the test looks at.
            channels_scheduler=False,
            # Likewise the finance poster (tests/cloud/finance/test_poster.py ticks it).
            finance_poster=False,
        ),
        ingest=False,
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """Logged in as an admin of the default account (id 1), whose nodes need no assignment."""
    app_client.headers.update(make_account(app_client, "default", account_id=1))
    return app_client


@pytest.fixture
def engine_of(app_client: TestClient):  # type: ignore[no-untyped-def]
    """The engine of the running app (for ingest and concurrency tests against the same data)."""
    return app_client.app.state.engine  # type: ignore[attr-defined]


def module_database(kind: str, tmp: Path) -> Iterator[str]:
    """A private database for a module-scoped hub: a SQLite file, or a fresh schema on the
    PostgreSQL server of GUANJIA_TEST_DATABASE_URL, dropped when the generator is closed."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'hub.db'}"
        return
    from cloud.db.engine import make_engine

    base = os.environ["GUANJIA_TEST_DATABASE_URL"]
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
