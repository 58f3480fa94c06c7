"""``create_pick_app``: the pick API over one node's store (docs/pick-api.md).

Run it with ONE worker process: the pick sessions live in that process and SQLite has
one writer (edge/runtimes/pick.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from edge.api.deps import ApiError
from edge.api.operators import Gate, GateSettings, Operator, load_operators
from edge.api.routes import router
from edge.ops.metrics import make_metrics_app
from edge.pins import verify_pin
from edge.runtimes.pick import PickError, PickService
from edge.stations.route import Metric
from edge.store.store import Store


def create_pick_app(
    store_path: Path,
    node_id: str,
    operators: Path | Iterable[Operator],
    *,
    station: str | None = None,
    warehouse: str | None = None,
    start: tuple[float, float] | None = None,
    metric: Metric = "aisle",
    gate_settings: GateSettings | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    verify: Callable[[str, str], bool] = verify_pin,
    wall_ms: Callable[[], int] | None = None,
) -> FastAPI:
    """The pick API app. ``operators``: an operators TOML file or the operators themselves.

    ``station`` names the station in facts (default ``node_id``); ``warehouse`` limits the
    bin table to one warehouse's bins; ``monotonic``/``verify``/``wall_ms`` are for tests.
    A store that has never been started gets its first epoch here (facts need one); on a
    node the daemon has run, the daemon owns the epochs.
    """
    ops = load_operators(operators) if isinstance(operators, Path) else list(operators)
    gate = Gate(ops, gate_settings or GateSettings(), monotonic=monotonic, verify=verify)
    store = Store(store_path, node_id)
    try:
        if store.epoch == 0:
            store.start_epoch("guanjia-pick-api", "pick")
        service = PickService(
            store,
            station=station or node_id,
            warehouse=warehouse,
            start=start,
            metric=metric,
            wall_ms=wall_ms,
        )
    except BaseException:
        store.close()
        raise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        with service.lock:
            store.close()

    app = FastAPI(
        title="Guanjia edge pick API",
        version="1",
        lifespan=lifespan,
        description="Pick lists, scans and verdicts for PDAs on the warehouse LAN.",
    )
    app.state.pick_service = service
    app.state.gate = gate
    app.state.store = store
    app.include_router(router)
    # A Route, not a Mount: a Mount answers /metrics with a redirect to /metrics/.
    app.router.routes.append(Route("/metrics", make_metrics_app(service.refresh_metrics)))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse(
            {"detail": err.message, "code": err.code}, status_code=err.status, headers=err.headers
        )

    @app.exception_handler(PickError)
    async def pick_error(request: Request, err: PickError) -> JSONResponse:
        return JSONResponse({"detail": err.message, "code": err.code}, status_code=err.status)

    return app
