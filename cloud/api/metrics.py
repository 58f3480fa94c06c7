"""``GET /metrics`` (Prometheus text) and the API latency middleware.

Off unless ``GUANJIA_METRICS_TOKEN`` is set: then a scrape must send it as a bearer token
(Prometheus: ``authorization: {credentials: …}`` in the scrape config). The figures say
nothing about a seller's goods, but they do show the hub's load and its routes, and the
API listens where sellers reach it, so they are not public; 404 while off, so an unset
token does not advertise the endpoint.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from starlette.types import ASGIApp, Receive, Scope, Send

from cloud import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def scrape(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    token: str | None = request.app.state.settings.metrics_token
    if token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    sent = (authorization or "").removeprefix("Bearer ").encode()
    if not hmac.compare_digest(sent, token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "metrics need the bearer token of GUANJIA_METRICS_TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, kind = metrics.render()
    return Response(body, media_type=kind)


class Timing:
    """Observe each HTTP request's latency under its route template (plain ASGI: a
    BaseHTTPMiddleware costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            # The router put the matched route into the scope; unmatched paths share one
            # series (a scan of random URLs must not make a series each).
            route = getattr(scope.get("route"), "path", "unmatched")
            key = (scope["method"], route)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = metrics.API_LATENCY.labels(*key)
            series.observe(time.perf_counter() - start)
