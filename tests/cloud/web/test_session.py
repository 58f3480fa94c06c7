"""The browser session: cookie flags, login limits, revocation, CSRF and scopes (docs/security.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud import accounts
from cloud.db.models import Account, User
from tests.cloud.web.conftest import AUDITED, HELD, add_user, csrf_of, web_login


def _status(app: TestClient, order_no: str) -> tuple[str, bool]:
    from cloud.db.models import SalesOrder

    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == order_no)).scalar_one()
        return o.status, o.on_hold


def test_cookie_is_httponly_samesite_and_secure_over_https(demo_app: TestClient) -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        c = TestClient(demo_app.app, base_url=base)
        page = c.get("/web/login")
        r = c.post(
            "/web/login",
            data={
                "account": "demo",
                "username": "admin",
                "password": "correct horse battery",
                "csrf": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        cookie = next(
            h for h in r.headers.get_list("set-cookie") if h.startswith("guanjia_session=")
        )
        flags = cookie.lower()
        assert "httponly" in flags and "samesite=lax" in flags and "path=/web" in flags
        assert ("secure" in flags.split("; ")) is secure


def test_no_session_goes_to_login_and_comes_back(demo_app: TestClient) -> None:
    r = demo_app.get("/web/audit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login?next=/web/audit")


def test_wrong_password_and_the_login_limit(demo_app: TestClient) -> None:
    page = demo_app.get("/web/login")
    data = {"account": "demo", "username": "admin", "password": "wrong", "csrf": csrf_of(page.text)}
    r = demo_app.post("/web/login", data=data)
    assert r.status_code == 401 and "账户、用户名或密码错误" in r.text  # Chinese by default
    assert "guanjia_session" not in r.headers.get("set-cookie", "")
    for _ in range(9):
        # each answer is a fresh login form with a fresh token
        r = demo_app.post("/web/login", data={**data, "csrf": csrf_of(r.text)})
    # The API's limit (10 failures of one username): now locked, the right password too.
    good = {**data, "password": "correct horse battery", "csrf": csrf_of(r.text)}
    r = demo_app.post("/web/login", data=good)
    assert r.status_code == 429 and "Retry-After" in r.headers, r.text
    assert "登录失败次数过多" in r.text


def test_login_form_needs_its_csrf_token(demo_app: TestClient) -> None:
    demo_app.get("/web/login")
    r = demo_app.post(
        "/web/login",
        data={"account": "demo", "username": "admin", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "CSRF" in r.text
    assert "guanjia_session" not in r.headers.get("set-cookie", "")


def _revoke_each_way(app: TestClient, change: Callable[[User], None]) -> None:
    app.app.state.token_versions.ttl_s = 0  # type: ignore[attr-defined]  # no grace: see below
    add_user(app, "demo", "lead", "warehouse_lead")
    c = TestClient(app.app)
    web_login(c, "demo", "lead")
    assert c.get("/web/tasks").status_code == 200
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account).where(Account.name == "demo")).scalar_one()
        user = s.execute(
            select(User).where(User.account_id == acct.id, User.username == "lead")
        ).scalar_one()
        change(user)
        accounts.update_user(
            s,
            acct.id,
            user.public_id,
            role=getattr(user, "_role", None),
            active=getattr(user, "_active", None),
            password=getattr(user, "_password", None),
            actor="test",
            now=datetime.now(UTC),
        )
    r = c.get("/web/tasks", follow_redirects=False)
    assert r.status_code == 303 and "/web/login" in r.headers["location"], r.text
    assert "session%20ended" in r.headers["location"]


def test_disabled_user_session_ends(demo_app: TestClient) -> None:
    _revoke_each_way(demo_app, lambda u: setattr(u, "_active", False))


def test_changed_role_ends_the_session(demo_app: TestClient) -> None:
    _revoke_each_way(demo_app, lambda u: setattr(u, "_role", "readonly"))


def test_changed_password_ends_the_session(demo_app: TestClient) -> None:
    _revoke_each_way(demo_app, lambda u: setattr(u, "_password", "another password 1"))


def test_revocation_grace_is_the_apis(demo_app: TestClient) -> None:
    # The same TokenVersions object checks the API's tokens and the browser's cookie.
    from cloud.auth import TokenVersions

    assert isinstance(demo_app.app.state.token_versions, TokenVersions)  # type: ignore[attr-defined]


def test_post_without_or_with_a_foreign_csrf_token_is_403_and_changes_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "demo", "checker", "auditor")
    a = browser_client()
    other = browser_client("demo", "checker")
    before = _status(demo_app, AUDITED)
    for token in (None, other.csrf, "x" * 64):  # type: ignore[attr-defined]
        data = {"reason": "test"} if token is None else {"reason": "test", "csrf": token}
        r = a.post(f"/web/orders/{AUDITED}/hold", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    assert _status(demo_app, AUDITED) == before
    r = a.post(f"/web/orders/{AUDITED}/hold", data={"reason": "test", "csrf": a.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 200 and _status(demo_app, AUDITED) == ("audited", True)
    # htmx sends it as a header
    r = a.post(f"/web/orders/{AUDITED}/unhold", headers={"X-CSRF-Token": a.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 200 and _status(demo_app, AUDITED) == ("audited", False)
    assert a.post("/web/logout", data={}).status_code == 403


def test_each_role_gets_the_apis_scopes(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "demo", "picker", "picker")
    add_user(demo_app, "demo", "viewer", "readonly")
    picker = browser_client("demo", "picker")
    assert picker.get("/web/audit").status_code == 200  # orders:read
    r = picker.get("/web/fleet")  # nodes:read: a picker lacks it
    assert r.status_code == 403 and "nodes:read" in r.text
    assert "/web/fleet" not in picker.get("/web/").text  # not offered either
    r = picker.post(f"/web/orders/{AUDITED}/release", data={"csrf": picker.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 403 and "orders:audit" in r.text
    viewer = browser_client("demo", "viewer")
    r = viewer.post(f"/web/orders/{HELD}/reject", data={"csrf": viewer.csrf, "reason": "x"})  # type: ignore[attr-defined]
    assert r.status_code == 403 and "orders:audit" in r.text
    r = viewer.post(f"/web/orders/{HELD}/hold", data={"csrf": viewer.csrf, "reason": "x"})  # type: ignore[attr-defined]
    assert r.status_code == 403 and "orders:write" in r.text
    assert _status(demo_app, AUDITED) == ("audited", False)
    assert (
        "Release"
        not in viewer.get(f"/web/orders/{AUDITED}", headers={"Accept-Language": "en"}).text
    )
