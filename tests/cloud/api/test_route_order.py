"""Every route answers its own path: none is shadowed by a route tried before it.

The hub tries the busiest routers first (cloud/app.py ``_busiest_first``); that is safe only
while no route's path also matches another router's route. A new route that would answer a
path of an older one (``/api/v1/channels/{shop}`` before ``/api/v1/channels/waybills``) fails
here, whichever order the routers are tried in.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from fastapi.routing import APIRoute

from cloud.app import create_app
from cloud.settings import Settings


def _routes(routes: Any) -> list[APIRoute]:
    out = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        inner = getattr(getattr(r, "original_router", None), "routes", None)
        if inner is not None:
            out.extend(_routes(inner))
    return out


def _answering(app: Any, method: str, path: str) -> Any:
    """The route the app picks for ``method path`` (the request itself is not served: the
    app is not started, so whatever runs after routing fails, and that is ignored)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"hub.test")],
        "client": ("127.0.0.1", 1),
        "server": ("hub.test", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: dict[str, Any]) -> None:
        return None

    # Not started: what runs after routing fails; only the routing decision is looked at.
    with contextlib.suppress(Exception):
        asyncio.run(app(scope, receive, send))
    return scope.get("route")


def test_no_route_is_shadowed() -> None:
    app = create_app(Settings(database_url="sqlite:///:memory:", mqtt_host="", jwt_secret="x" * 32))
    routes = _routes(app.router.routes)
    assert any(r.path == "/api/v1/orders" for r in routes)
    shadowed = []
    for route in routes:
        # A made-up value for each parameter: not the name of any fixed path segment.
        path = re.sub(r"\{[^}]+\}", "p1x", route.path)
        for method in sorted(route.methods):
            got = _answering(app, method, path)
            if got is not route:
                shadowed.append(f"{method} {route.path} -> {getattr(got, 'path', got)}")
    assert shadowed == []
