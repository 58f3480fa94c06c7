"""Per-request overheads removed under issue 20 stay removed: no dependency of an API route
runs on the thread pool (a hop there and back per request, queued behind the handlers), and
FastAPI's built-in OpenTelemetry does not ask for providers on every request."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute

from cloud.app import create_app
from cloud.settings import Settings

#: Sync on purpose: a login's form parsing (a rare request, argon2 dominates it).
ALLOWED_SYNC = {"OAuth2PasswordRequestForm"}


def _calls(dependant: Any) -> list[Any]:
    out = []
    for d in dependant.dependencies:
        out.append(d.call)
        out.extend(_calls(d))
    return out


def _routes(routes: Any) -> list[APIRoute]:
    out = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        inner = getattr(getattr(r, "original_router", None), "routes", None)
        if inner is not None:
            out.extend(_routes(inner))
    return out


def test_api_dependencies_run_on_the_event_loop_and_telemetry_is_off() -> None:
    app = create_app(Settings(database_url="sqlite:///:memory:", mqtt_host="", jwt_secret="x" * 32))
    api = [r for r in _routes(app.router.routes) if r.path.startswith("/api/")]
    assert any(r.path == "/api/v1/orders" for r in api), [r.path for r in api][:20]
    sync = sorted(
        {
            f"{r.path}: {getattr(call, '__qualname__', call)}"
            for r in api
            for call in _calls(r.dependant)
            if not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call))
            and not inspect.iscoroutinefunction(type(call).__call__)
            and getattr(call, "__name__", "") not in ALLOWED_SYNC
        }
    )
    assert sync == []
    telemetry = getattr(app, "_native_telemetry", None)
    if telemetry is not None:  # FastAPI versions with built-in OpenTelemetry
        assert not telemetry.enabled()
        assert app._telemetry["tracing"] is False  # type: ignore[attr-defined]
