"""Login protection (issue 13, finding 4): attempt limits per username and per client, shared
by every worker through the database, 429 with Retry-After (RFC 6585 §4, RFC 9110 §10.2.3),
and password checks off the request threads, outside any write transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud import accounts, auth
from cloud.app import create_app
from cloud.db.models import LoginAttempts
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD

TOKEN = "/api/v1/auth/token"


@contextmanager
def hub(db_url: str, **overrides: Any) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        mqtt_host="",
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        warm_on_start=False,
        **overrides,
    )
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def _user(c: TestClient, name: str, active: bool = True) -> None:
    with c.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        acct = accounts.create_account(s, f"acct-{name}", now).id
        user = accounts.create_user(s, acct, name, PASSWORD, "admin", "test", now)
        user.active = active


def _login(c: TestClient, name: str, password: str) -> Any:
    return c.post(TOKEN, data={"account": f"acct-{name}", "username": name, "password": password})


def test_ten_wrong_passwords_lock_the_user_even_for_the_right_one(db_url: str) -> None:
    with hub(db_url, login_lockout_s=1.5) as c:
        _user(c, "alice")
        for _ in range(10):
            assert _login(c, "alice", "guess").status_code == 401
        r = _login(c, "alice", PASSWORD)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 2
        assert "too many failed logins" in r.json()["detail"]
        # Another name is not locked by alice's failures (the client is far from its limit).
        _user(c, "bob")
        assert _login(c, "bob", PASSWORD).status_code == 200
        time.sleep(1.6)  # the lockout is over: the right password works, and clears the count
        assert _login(c, "alice", PASSWORD).status_code == 200
        assert _login(c, "alice", "guess").status_code == 401


def test_lockouts_double(db_url: str) -> None:
    with hub(db_url, login_user_failures=2, login_lockout_s=1.0) as c:
        _user(c, "carol")
        for _ in range(2):
            assert _login(c, "carol", "guess").status_code == 401
        assert _login(c, "carol", "guess").headers["Retry-After"] == "1"
        time.sleep(1.05)
        for _ in range(2):
            assert _login(c, "carol", "guess").status_code == 401
        assert _login(c, "carol", "guess").headers["Retry-After"] == "2"


def test_client_limit_spans_usernames(db_url: str) -> None:
    with hub(db_url, login_client_failures=5) as c:
        for i in range(5):
            assert _login(c, f"nobody{i}", "guess").status_code == 401
        _user(c, "dave")
        r = _login(c, "dave", PASSWORD)
        assert r.status_code == 429 and "Retry-After" in r.headers


def test_workers_share_the_counters(db_url: str) -> None:
    """Two hubs on one database (two workers' engines): failures on each add up."""
    with hub(db_url) as a, hub(db_url) as b:
        _user(a, "erin")
        for i in range(10):
            assert _login(a if i % 2 else b, "erin", "guess").status_code == 401
        assert _login(a, "erin", PASSWORD).status_code == 429
        assert _login(b, "erin", PASSWORD).status_code == 429
        with a.app.state.sessions() as s:  # type: ignore[attr-defined]
            n = s.execute(select(func.count()).select_from(LoginAttempts)).scalar_one()
        assert n == 2  # one row for the name, one for the client: bounded, not per attempt


def test_unknown_wrong_and_disabled_cost_one_check_each(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing equality (no user probing): each case runs exactly one argon2 verify, and
    answers alike."""
    calls: list[str] = []
    real = auth._hasher.verify

    def counting(password: str, hashed: str) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(auth._hasher, "verify", counting)
    with hub(db_url) as c:
        _user(c, "frank")
        _user(c, "gina", active=False)
        answers = []
        for name, pw in (("nobody", "x"), ("frank", "x"), ("gina", PASSWORD)):
            calls.clear()
            r = _login(c, name, pw)
            answers.append((r.status_code, r.json()))
            assert len(calls) == 1, name
        expected = (401, {"detail": "wrong account, username or password"})
        assert answers == [expected] * 3


def test_hash_pool_full_answers_503_at_once(db_url: str) -> None:
    with hub(db_url, login_hash_threads=1, login_hash_queue=0) as c:
        pool: auth.HashPool = c.app.state.hash_pool  # type: ignore[attr-defined]
        pool._taken = pool.capacity  # every slot taken by logins in progress
        r = _login(c, "anyone", "x")
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        pool._taken = 0
        with c.app.state.sessions() as s:  # type: ignore[attr-defined]
            # refused before it was counted
            assert s.execute(select(func.count()).select_from(LoginAttempts)).scalar_one() == 0


def test_a_new_password_is_hashed_before_the_write_not_inside_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating a user hashes its password (~100 ms of argon2) first and only then writes:
    a slow hash (fault injected: 1 s) holds up no other writer. Inside the write, it held
    SQLite's write lock all the while (BEGIN IMMEDIATE), and every write of every user
    waited for it (issue 13, finding 4)."""
    with hub(db_url) as c:
        _user(c, "root")
        admin = {"Authorization": f"Bearer {_login(c, 'root', PASSWORD).json()['access_token']}"}
        made = c.post(
            "/api/v1/users",
            json={"username": "other", "password": PASSWORD, "role": "picker"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        other = made.json()["id"]
        real = auth._hasher.hash
        monkeypatch.setattr(auth._hasher, "hash", lambda pw: time.sleep(1.0) or real(pw))
        slow: list[Any] = []
        creating = threading.Thread(
            target=lambda: slow.append(
                c.post(
                    "/api/v1/users",
                    json={"username": "newbie", "password": PASSWORD, "role": "picker"},
                    headers=admin,
                )
            )
        )
        creating.start()
        time.sleep(0.3)  # the new user's password is being hashed now
        t0 = time.perf_counter()
        r = c.patch(f"/api/v1/users/{other}", json={"role": "readonly"}, headers=admin)
        waited = time.perf_counter() - t0
        creating.join()
        assert r.status_code == 200, r.text
        assert slow[0].status_code == 201, slow[0].text
        assert waited < 0.5, f"a write waited {waited:.2f} s behind another user's password hash"
        names = {u["username"] for u in c.get("/api/v1/users", headers=admin).json()}
        assert names == {"root", "other", "newbie"}


#: Long beside a loaded machine's argon2 check (up to ~1 s seen), so a success is clearly shorter.
PAUSE = 2.0


def test_a_refused_login_is_answered_after_the_pause(db_url: str) -> None:
    """401, 429 and 503 wait ``login_refusal_delay_s`` (no CPU: a flood's connections wait
    instead of retrying at once); a malformed form (422) and a success do not."""
    with hub(db_url, login_refusal_delay_s=PAUSE, login_user_failures=1) as c:
        _user(c, "dora")

        def timed(**form: str) -> tuple[int, float]:
            t0 = time.perf_counter()
            r = c.post(TOKEN, data=form)
            return r.status_code, time.perf_counter() - t0

        ok, fast = timed(account="acct-dora", username="dora", password=PASSWORD)
        assert ok == 200 and fast < PAUSE
        bad, fast = timed(username="no-account-named", password="x")
        assert bad == 422 and fast < PAUSE
        wrong, slow = timed(account="acct-dora", username="dora", password="wrong")
        assert wrong == 401 and slow >= PAUSE
        locked, slow = timed(account="acct-dora", username="dora", password=PASSWORD)
        assert locked == 429 and slow >= PAUSE
        pool: auth.HashPool = c.app.state.hash_pool  # type: ignore[attr-defined]
        pool._taken = pool.capacity
        busy, slow = timed(account="acct-dora", username="eve", password="x")
        pool._taken = 0
        assert busy == 503 and slow >= PAUSE
