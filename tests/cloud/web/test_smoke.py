from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.cloud.web.conftest import HELD


def test_pages_render(browser_client: Callable[..., TestClient]) -> None:
    c = browser_client()
    for path in (
        "/web/",
        "/web/audit",
        "/web/orders",
        f"/web/orders/{HELD}",
        "/web/tasks",
        "/web/fleet",
        "/web/orders?late=1",
        "/web/orders?q=JY",
    ):
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:2000])
