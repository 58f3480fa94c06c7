"""Per-request overheads removed under issue 20 stay removed: no dependency of an API route
runs on the thread pool (a hop there and back per request, queued behind the handlers), and
FastAPI's built-in OpenTelemetry does not ask for providers on every request."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.settings import Settings
from tests.cloud.conftest import make_account

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


def _query_params(dependant: Any) -> list[str]:
    return [p.name for p in dependant.query_params] + [
        n for d in dependant.dependencies for n in _query_params(d)
    ]


def test_the_order_filter_is_one_model_and_still_described_and_refused_alike() -> None:
    """FastAPI validated the order list's eleven filters one by one (~0.2 ms per list or
    search, issue 20): the filter reads them as one model. The API's description still
    lists every one, and a bad value is still FastAPI's 422 for that parameter."""
    app = create_app(
        Settings(
            database_url="sqlite:///:memory:", mqtt_host="", jwt_secret="x" * 32, api_docs=True
        )
    )
    (route,) = [
        r for r in _routes(app.router.routes) if r.path == "/api/v1/orders" and "GET" in r.methods
    ]
    assert sorted(_query_params(route.dependant)) == ["limit", "offset"]
    described = [p["name"] for p in app.openapi()["paths"]["/api/v1/orders"]["get"]["parameters"]]
    assert described == [
        *("limit", "offset", "status", "on_hold", "q", "channel", "shop", "carrier"),
        *("warehouse", "arrived_from", "arrived_to", "shipped_from", "shipped_to"),
    ]


def test_a_bad_order_filter_is_refused_as_before(app_client: TestClient) -> None:
    """Read as one model, each bad filter is still a 422 naming its parameter, and the
    list still filters (the 422s of a reversed range: tests/cloud/web/test_refusal_language.py)."""
    headers = make_account(app_client, "filter-one-model")
    for query, name, kind in (
        ("status=lost", "status", "literal_error"),
        ("on_hold=perhaps", "on_hold", "bool_parsing"),
        ("channel=ebay", "channel", "literal_error"),
        ("q=" + "x" * 65, "q", "string_too_long"),
        ("arrived_from=2026-02-30", "arrived_from", "date_from_datetime_parsing"),
    ):
        r = app_client.get("/api/v1/orders?" + query, headers=headers)
        assert r.status_code == 422, (query, r.text)
        assert [(e["loc"], e["type"]) for e in r.json()["detail"]] == [(["query", name], kind)]
    ok = app_client.get(
        "/api/v1/orders?status=&on_hold=false&q=&arrived_from=2026-01-01&limit=5", headers=headers
    )
    assert ok.status_code == 200 and ok.json() == []
