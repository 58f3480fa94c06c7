"""A parked shop's page (docs/channels.md, rule 8): the alarm says what happened, what is
paused and that nothing is lost, in Chinese by default; the admin saves the new key there
(the shop runs again, due at once); a bad key is a 422 with its sentence and changes nothing;
a reader sees no form and is refused; the API route does the same."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import ChannelShop
from tests.cloud.conftest import login
from tests.cloud.web.conftest import add_user
from tests.cloud.web.test_channel_pages import EN, seed_shop


def _shop(app: TestClient, code: str = "tb1") -> ChannelShop:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        row = s.execute(select(ChannelShop).where(ChannelShop.code == code)).scalar_one()
        s.expunge(row)
        return row


def test_a_parked_shop_says_why_and_takes_a_new_key_on_the_page_and_by_the_api(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shop(demo_app, status="needs_reauth", failed_shipment=False)
    add_user(demo_app, "demo", "reader", "readonly")
    reader = browser_client("demo", "reader")
    page = reader.get("/web/channels/tb1", headers=EN).text
    assert "This shop needs re-authorisation" in page and "Nothing is lost" in page
    assert 'name="session_key"' not in page  # no form for a reader
    r = reader.post(
        "/web/channels/tb1/authorisation", data={"csrf": reader.csrf, "session_key": "x"}
    )  # type: ignore[attr-defined]
    assert r.status_code == 403 and _shop(demo_app).status == "needs_reauth"

    # Another seller's admin: the shop is not theirs to find, and its key stays.
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    r = b.post("/web/channels/tb1/authorisation", data={"csrf": b.csrf, "session_key": "stolen"})  # type: ignore[attr-defined]
    assert r.status_code == 404 and _shop(demo_app).session_key == "k"

    a = browser_client()
    zh = a.get("/web/channels/tb1").text
    assert "此店铺需要重新授权" in zh and "保存新的授权码" in zh and 'role="alert"' in zh
    assert 'type="password"' in zh  # the key is not shown as it is typed
    bad = a.post(
        "/web/channels/tb1/authorisation",
        data={"csrf": a.csrf, "session_key": "two words"},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert bad.status_code == 422 and "without spaces" in bad.text
    forged = a.post("/web/channels/tb1/authorisation", data={"csrf": "x", "session_key": "k2"})
    assert forged.status_code == 403
    row = _shop(demo_app)
    assert (row.status, row.session_key) == ("needs_reauth", "k")
    ok = a.post(
        "/web/channels/tb1/authorisation",
        data={"csrf": a.csrf, "session_key": "6201a2b3c4-new"},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/web/channels/tb1?reauthorised=1"
    row = _shop(demo_app)
    assert (row.status, row.status_reason, row.session_key) == ("active", None, "6201a2b3c4-new")
    page = a.get("/web/channels/tb1?reauthorised=1", headers=EN).text
    assert "Downloads resume from where they stopped" in page
    assert "This shop needs re-authorisation" not in page and "6201a2b3c4-new" not in page

    # The API route does the same: a bad body changes nothing, the key is never given back.
    seed_shop(demo_app, "tb2", status="needs_reauth", failed_shipment=False)
    headers = login(demo_app, "admin", account="demo")
    url = "/api/v1/channels/shops/tb2/authorisation"
    assert demo_app.put(url, json={"session_key": ""}, headers=headers).status_code == 422
    assert demo_app.put(url, json={"key": "k2"}, headers=headers).status_code == 422
    assert _shop(demo_app, "tb2").status == "needs_reauth"
    r = demo_app.put(url, json={"session_key": "k2"}, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert "k2" not in r.text
    assert _shop(demo_app, "tb2").session_key == "k2"
