"""Users and roles (admins only) and the audit rules (versions kept, edits validated)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Rule, User
from tests.cloud.web.conftest import add_user, web_login

EN = {"Accept-Language": "en"}


def _user_id(app: TestClient, name: str) -> str:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return s.execute(select(User.public_id).where(User.username == name)).scalars().first()  # type: ignore[return-value]


def test_admin_creates_demotes_and_disables_users(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    admin = browser_client()
    r = admin.post(
        "/web/users",
        data={
            "csrf": admin.csrf,
            "username": "Packer1",  # type: ignore[attr-defined]
            "password": "long enough pw",
            "role": "auditor",
        },
    )
    assert r.status_code == 200 and "packer1" in r.text
    packer = TestClient(demo_app.app)
    web_login(packer, "demo", "packer1", "long enough pw")
    assert packer.get("/web/audit").status_code == 200
    assert packer.get("/web/users").status_code == 403  # users:admin only
    demo_app.app.state.token_versions.ttl_s = 0  # type: ignore[attr-defined]
    uid = _user_id(demo_app, "packer1")
    r = admin.post(
        f"/web/users/{uid}", data={"csrf": admin.csrf, "role": "readonly", "active": "true"}
    )  # type: ignore[attr-defined]
    assert r.status_code == 200
    assert packer.get("/web/audit", follow_redirects=False).status_code == 303  # session ended
    bad = admin.post(
        "/web/users",
        data={"csrf": admin.csrf, "username": "x", "password": "short", "role": "admin"},
    )  # type: ignore[attr-defined]
    assert bad.status_code == 422
    taken = admin.post(
        "/web/users",
        data={
            "csrf": admin.csrf,
            "username": "PACKER1",  # type: ignore[attr-defined]
            "password": "long enough pw",
            "role": "auditor",
        },
    )
    # the page's language (zh_CN by default): cloud/accounts.py's sentence translated
    assert taken.status_code == 409 and "用户名 &#39;packer1&#39; 已被占用" in taken.text


def test_other_sellers_user_is_404(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    uid = _user_id(demo_app, "admin")
    r = b.post(f"/web/users/{uid}", data={"csrf": b.csrf, "active": "false"})  # type: ignore[attr-defined]
    assert r.status_code == 404
    listed = re.findall(r"<tr>\s*<td>([^<]+)</td>", b.get("/web/users").text)
    assert listed == ["boss"]


def test_rule_versions_and_a_validated_edit(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    page = c.get("/web/rules", headers=EN).text
    assert "double11-sf" in page and "hunan-sf" in page
    edit = c.get("/web/rules/hunan-sf", headers=EN).text
    current = json.loads(
        re.search(r"<textarea[^>]*>(.*?)</textarea>", edit, re.S)[1]
        .replace("&#34;", '"')
        .replace("&amp;", "&")
    )  # type: ignore[index]
    current["priority"] = 5
    r = c.post(
        "/web/rules/hunan-sf", data={"csrf": c.csrf, "rule": json.dumps(current)}, headers=EN
    )  # type: ignore[attr-defined]
    assert r.status_code == 200 and "v2" in r.text and "+  &#34;priority&#34;: 5" in r.text
    bad = {**current, "kind": "gift"}  # a gift action it does not have
    r = c.post("/web/rules/hunan-sf", data={"csrf": c.csrf, "rule": json.dumps(bad)})  # type: ignore[attr-defined]
    assert r.status_code == 422
    r = c.post("/web/rules/hunan-sf", data={"csrf": c.csrf, "rule": "{not json"})  # type: ignore[attr-defined]
    assert r.status_code == 422
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert [
            v for (v,) in s.execute(select(Rule.version).where(Rule.rule_key == "hunan-sf"))
        ] == [1, 2]
    add_user(demo_app, "demo", "lead", "warehouse_lead")
    lead = browser_client("demo", "lead")
    r = lead.post("/web/rules/hunan-sf", data={"csrf": lead.csrf, "rule": json.dumps(current)})  # type: ignore[attr-defined]
    assert r.status_code == 403 and "rules:write" in r.text
