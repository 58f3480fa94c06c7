"""Issue 13 (security hardening), findings 1, 2, 3 and 10: revocation of tokens, task actions
that need the scope of what they book, usernames per account and case-insensitive, seller
accounts made by the platform operator only, API docs and CORS closed by default."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from cloud import accounts, facts, tasks
from cloud.app import create_app
from cloud.auth import TokenVersions
from cloud.db.engine import alembic_config, migrate, session_factory, transaction
from cloud.db.models import Account, StockMovement, User
from cloud.settings import Settings

from ..conftest import PASSWORD, login

SECRET = "test-secret-of-at-least-32-bytes-long"
OPERATOR = "operator-token-of-at-least-32-bytes!"


@contextlib.contextmanager
def _client(db_url: str, **settings: Any) -> Iterator[TestClient]:
    app = create_app(
        Settings(database_url=db_url, mqtt_host="", jwt_secret=SECRET, **settings), ingest=False
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def hub(db_url: str) -> Iterator[TestClient]:
    """A hub that reads token versions on every request (the window injected as 0 s)."""
    with _client(db_url, token_version_cache_s=0, operator_token=OPERATOR) as c:
        yield c


def _user(c: TestClient, account: str, name: str, role: str) -> str:
    sessions = c.app.state.sessions  # type: ignore[attr-defined]
    with transaction(sessions) as s:
        acct = s.execute(select(Account).where(Account.name == account)).scalar_one_or_none()
        acct = acct or accounts.create_account(s, account, datetime.now(UTC))
        return accounts.create_user(
            s, acct.id, name, PASSWORD, role, "test", datetime.now(UTC)
        ).public_id


# --- 1. revocation ------------------------------------------------------------------------


def test_disabled_user_token_is_refused_at_once(hub: TestClient) -> None:
    _user(hub, "acme", "boss", "admin")
    uid = _user(hub, "acme", "clerk", "readonly")
    boss, clerk = login(hub, "boss", account="acme"), login(hub, "clerk", account="acme")
    assert hub.get("/api/v1/orders", headers=clerk).status_code == 200
    r = hub.patch(f"/api/v1/users/{uid}", headers=boss, json={"active": False})
    assert r.status_code == 200, r.text
    r = hub.get("/api/v1/orders", headers=clerk)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    # Enabled again: the old token stays dead, a new login works.
    assert hub.patch(f"/api/v1/users/{uid}", headers=boss, json={"active": True}).is_success
    assert hub.get("/api/v1/orders", headers=clerk).status_code == 401
    assert hub.get("/api/v1/orders", headers=login(hub, "clerk", account="acme")).is_success


def test_demoted_admin_can_no_longer_create_users(hub: TestClient) -> None:
    _user(hub, "acme", "boss", "admin")
    uid = _user(hub, "acme", "deputy", "admin")
    boss, deputy = login(hub, "boss", account="acme"), login(hub, "deputy", account="acme")
    new = {"username": "intern", "password": PASSWORD, "role": "picker"}
    assert hub.post("/api/v1/users", headers=deputy, json=new).status_code == 201
    assert hub.patch(f"/api/v1/users/{uid}", headers=boss, json={"role": "auditor"}).is_success
    r = hub.post("/api/v1/users", headers=deputy, json=new | {"username": "intern2"})
    assert r.status_code == 401
    users = hub.get("/api/v1/users", headers=boss).json()
    assert "intern2" not in {u["username"] for u in users}
    # Logged in again, the auditor has the auditor's scopes: 403, not 401.
    again = login(hub, "deputy", account="acme")
    assert (
        hub.post("/api/v1/users", headers=again, json=new | {"username": "x2"}).status_code == 403
    )


def test_token_from_before_a_password_change_is_refused(hub: TestClient) -> None:
    _user(hub, "acme", "boss", "admin")
    uid = _user(hub, "acme", "clerk", "readonly")
    boss, clerk = login(hub, "boss", account="acme"), login(hub, "clerk", account="acme")
    r = hub.patch(f"/api/v1/users/{uid}", headers=boss, json={"password": "a new secret!"})
    assert r.status_code == 200
    assert hub.get("/api/v1/auth/me", headers=clerk).status_code == 401
    fresh = login(hub, "clerk", "a new secret!", account="acme")
    assert hub.get("/api/v1/auth/me", headers=fresh).status_code == 200
    # Changing nothing that matters (enabling an enabled user) revokes nothing.
    assert hub.patch(f"/api/v1/users/{uid}", headers=boss, json={"active": True}).is_success
    assert hub.get("/api/v1/auth/me", headers=fresh).status_code == 200


def test_the_cache_window_is_the_only_grace(db_url: str) -> None:
    """Within the worker's cache window (injected: a clock the test moves) a revoked token
    is still taken; once the window has passed, it is refused."""
    with _client(db_url) as hub:
        now = [1000.0]
        hub.app.state.token_versions = TokenVersions(  # type: ignore[attr-defined]
            hub.app.state.read_sessions,  # type: ignore[attr-defined]
            ttl_s=2.0,
            clock=lambda: now[0],
        )
        _user(hub, "acme", "boss", "admin")
        uid = _user(hub, "acme", "clerk", "readonly")
        boss, clerk = login(hub, "boss", account="acme"), login(hub, "clerk", account="acme")
        assert hub.get("/api/v1/auth/me", headers=clerk).status_code == 200  # cached now
        assert hub.patch(f"/api/v1/users/{uid}", headers=boss, json={"active": False}).is_success
        now[0] += 1.9
        assert hub.get("/api/v1/auth/me", headers=clerk).status_code == 200  # inside window
        now[0] += 0.1
        assert hub.get("/api/v1/auth/me", headers=clerk).status_code == 401


# --- 2. task actions need the scopes of what they book ---------------------------------


def _task(c: TestClient, account: str, kind: str) -> str:
    with transaction(c.app.state.sessions) as s:  # type: ignore[attr-defined]
        acct = s.execute(select(Account.id).where(Account.name == account)).scalar_one()
        t = tasks.open_task(
            s, acct, kind, f"a {kind}", datetime.now(UTC), event_id="0" * 8, node_id="n1"
        )
        s.flush()
        return t.public_id


def _movements(c: TestClient) -> int:
    with c.app.state.sessions() as s:  # type: ignore[attr-defined]
        n: int = s.execute(select(func.count()).select_from(StockMovement)).scalar_one()
        return n


def test_auditor_cannot_approve_a_count_variance(hub: TestClient) -> None:
    _user(hub, "acme", "checker", "auditor")
    _user(hub, "acme", "lead", "warehouse_lead")
    auditor, lead = login(hub, "checker", account="acme"), login(hub, "lead", account="acme")
    tid = _task(hub, "acme", facts.COUNT_VARIANCE)
    before = _movements(hub)
    body = {"resolution": "looks right", "approve": True}
    r = hub.post(f"/api/v1/tasks/{tid}/resolve", headers=auditor, json=body)
    assert r.status_code == 403, r.text
    assert "stock:write" in r.json()["detail"]
    assert _movements(hub) == before
    open_ = hub.get("/api/v1/tasks", headers=auditor).json()
    assert [t["id"] for t in open_] == [tid]  # still open, nothing booked
    # A lead holds stock:write: past the scope check (the count itself is not stored here,
    # so approving it is a 409 that names that, not a 403).
    r = hub.post(f"/api/v1/tasks/{tid}/resolve", headers=lead, json=body)
    assert r.status_code == 409 and "not stored" in r.json()["detail"], r.text
    # Rejecting books nothing: tasks:write is enough.
    r = hub.post(
        f"/api/v1/tasks/{tid}/resolve",
        headers=auditor,
        json={"resolution": "recount", "approve": False},
    )
    assert r.status_code == 200 and r.json()["resolution"].startswith("rejected"), r.text
    assert _movements(hub) == before


@pytest.mark.parametrize(
    "kind",
    [
        "stock_variance",
        "unknown_order",
        "fact_conflict",
        "pick_exception",
        "weight",
        "carrier_mismatch",
        "stocktake",
        facts.PICK_LEASE_CONFLICT,
        facts.RECEIPT_CONFLICT,
        facts.SHIPMENT_CONFLICT,
    ],
)
def test_task_kinds_that_book_nothing_need_only_tasks_write(hub: TestClient, kind: str) -> None:
    _user(hub, "acme", "checker", "auditor")
    auditor = login(hub, "checker", account="acme")
    tid = _task(hub, "acme", kind)
    before = _movements(hub)
    for approve in (None, True):
        t2 = tid if approve is None else _task(hub, "acme", kind)
        body: dict[str, Any] = {"resolution": "seen"}
        if approve is not None:
            body["approve"] = approve
        r = hub.post(f"/api/v1/tasks/{t2}/resolve", headers=auditor, json=body)
        assert r.status_code == 200, r.text
    assert _movements(hub) == before
    assert set(facts.ACTION_SCOPES) == {(facts.COUNT_VARIANCE, "approve")}


# --- 3. usernames per account, case-insensitive; login names the account ---------------


def test_usernames_are_per_account_and_case_insensitive(hub: TestClient) -> None:
    _user(hub, "acme", "boss", "admin")
    _user(hub, "zenith", "boss", "admin")  # the same name in another account: allowed
    acme = login(hub, "BOSS", account="acme")  # any case logs in
    assert hub.get("/api/v1/auth/me", headers=acme).json()["username"] == "boss"
    zenith = login(hub, "boss", account="zenith")
    assert hub.get("/api/v1/auth/me", headers=zenith).json()["account"] == "zenith"
    assert hub.get("/api/v1/auth/me", headers=acme).json()["account"] == "acme"
    r = hub.post(
        "/api/v1/users",
        headers=acme,
        json={"username": "Boss", "password": PASSWORD, "role": "picker"},
    )
    assert r.status_code == 409 and "taken in this account" in r.json()["detail"]
    r = hub.post(
        "/api/v1/users",
        headers=acme,
        json={"username": "Clerk", "password": PASSWORD, "role": "picker"},
    )
    assert r.status_code == 201 and r.json()["username"] == "clerk"
    # The OAuth2-only form (the /docs login): the username as account:user.
    r = hub.post("/api/v1/auth/token", data={"username": "zenith:boss", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # No account named: a 422 that says how, the same whoever the user is.
    for name in ("boss", "nobody"):
        r = hub.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
        assert r.status_code == 422 and "account" in r.text
    # Right password, wrong account: the same 401 as any wrong login.
    r = hub.post(
        "/api/v1/auth/token",
        data={"account": "nowhere", "username": "boss", "password": PASSWORD},
    )
    assert r.status_code == 401 and r.json() == {"detail": "wrong account, username or password"}


def _at_0008(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0008")


def test_migration_lowercases_names_and_refuses_case_twins(engine: Engine) -> None:
    _at_0008(engine)
    now = datetime.now(UTC)
    insert = text(
        "INSERT INTO app_user (account_id, username, password_hash, role, active, changed_by,"
        " changed_at) VALUES (:a, :n, 'x', 'admin', :t, 'test', :now)"
    )
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO account (id, name, created_at) VALUES (2, 'acme', :now)"),
            {"now": now},
        )
        for a, n in ((1, "Alice"), (2, "Bob"), (2, "bob"), (2, "Carol")):
            c.execute(insert, {"a": a, "n": n, "t": True, "now": now})
    with pytest.raises(Exception, match=r"account 2: 'Bob' \(id \d+\), 'bob' \(id \d+\)"):
        migrate(engine)
    with engine.connect() as c:  # nothing changed
        names = sorted(c.execute(text("SELECT username FROM app_user")).scalars())
        version = c.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert names == ["Alice", "Bob", "Carol", "bob"]
    # 0010 did not apply. PostgreSQL rolls the whole run back (DDL is transactional there);
    # SQLite keeps the migrations before 0010 (the chain's order is not the numbers' order).
    before_0010 = ScriptDirectory.from_config(alembic_config(engine)).get_revision("0010")
    assert version in {"0008", before_0010.down_revision}
    with engine.begin() as c:  # the operator renames one, as the message says
        c.execute(text("UPDATE app_user SET username = 'bob2' WHERE username = 'bob'"))
    migrate(engine)
    with session_factory(engine)() as s:
        got = sorted((u.account_id, u.username, u.token_version) for u in s.scalars(select(User)))
    assert got == [(1, "alice", 0), (2, "bob", 0), (2, "bob2", 0), (2, "carol", 0)]


# --- 4. seller accounts: the operator's API and the CLI ---------------------------------


def test_platform_api_creates_accounts_for_the_operator_only(hub: TestClient) -> None:
    url = "/api/v1/platform/accounts"
    body = {"name": "newco", "admin_username": "Owner"}
    _user(hub, "acme", "boss", "admin")
    seller = login(hub, "boss", account="acme")
    assert hub.post(url, headers=seller, json=body).status_code == 401  # a seller's admin
    assert hub.post(url, json=body).status_code == 401
    op = {"Authorization": f"Bearer {OPERATOR}"}
    r = hub.post(url, headers=op, json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["admin_username"] == "owner" and len(made["admin_password"]) >= 20
    owner = login(hub, "owner", made["admin_password"], account="newco")
    assert hub.get("/api/v1/auth/me", headers=owner).json()["role"] == "admin"
    r = hub.post(url, headers=op, json=body | {"admin_password": PASSWORD})
    assert r.status_code == 409
    r = hub.post(url, headers=op, json={"name": "x:y", "admin_username": "a1"})
    assert r.status_code == 422
    # Given a password, none is sent back.
    r = hub.post(
        url, headers=op, json={"name": "third", "admin_username": "a1", "admin_password": PASSWORD}
    )
    assert r.status_code == 201 and r.json()["admin_password"] is None


def test_platform_api_is_off_without_an_operator_token(db_url: str) -> None:
    with _client(db_url) as c:
        r = c.post("/api/v1/platform/accounts", json={"name": "newco", "admin_username": "o1"})
        assert r.status_code == 404


def test_cli_account_create(db_url: str) -> None:
    from cloud.cli import app

    runner = CliRunner()
    r = runner.invoke(
        app, ["account", "create", "newco", "--admin", "Owner", "--database-url", db_url]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["account"] == "newco" and out["admin"] == "owner" and out["admin_password"]
    r = runner.invoke(
        app,
        [
            "account",
            "create",
            "other",
            "--admin",
            "o1",
            "--password-file",
            "-",
            "--database-url",
            db_url,
        ],
        input="from stdin 123\n",
    )
    assert r.exit_code == 0, r.output
    assert "admin_password" not in r.output
    r = runner.invoke(
        app, ["account", "create", "newco", "--admin", "x1", "--database-url", db_url]
    )
    assert r.exit_code == 1 and "exists already" in r.output
    with _client(db_url) as c:
        login(c, "owner", out["admin_password"], account="newco")
        login(c, "o1", "from stdin 123", account="other")


# --- 5. API docs and CORS closed by default ---------------------------------------------


def test_api_docs_are_off_by_default(db_url: str) -> None:
    with _client(db_url) as c:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert c.get(path).status_code == 404, path
    with _client(db_url, api_docs=True) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 200, path


def _preflight(c: TestClient, origin: str) -> Any:
    return c.options(
        "/api/v1/orders",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_is_closed_by_default_and_explicit_when_open(db_url: str) -> None:
    with _client(db_url) as c:
        r = _preflight(c, "https://evil.example")
        assert "access-control-allow-origin" not in r.headers
        r = c.get("/api/v1/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    with _client(db_url, cors_origins=["https://erp.example.com"]) as c:
        ok = _preflight(c, "https://erp.example.com")
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://erp.example.com"
        assert "access-control-allow-credentials" not in ok.headers
        bad = _preflight(c, "https://evil.example")
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers


@pytest.mark.parametrize("origin", ["*", "https://erp.example.com/", "erp.example.com", "null"])
def test_cors_origins_must_be_origins(origin: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        Settings(cors_origins=[origin])
