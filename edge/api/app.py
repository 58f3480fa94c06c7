"""The pick API app over one node's store (docs/pick-api.md).

:func:`pick_app` serves a store the caller owns: the node daemon passes its own, so the
node has one Store, one SQLite connection and one writer — the daemon's event loop,
where the store-touching routes run (edge/api/routes.py). :func:`create_pick_app` is the
API on its own (``guanjia edge pick-api``): it owns the store it opens. Run either with
ONE worker process: the pick sessions live in that process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Route

from edge.api.counts import router as counts_router
from edge.api.desks import router as desks_router
from edge.api.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADERS,
    BodyLimit,
    HeaderLimit,
    PinPool,
)
from edge.api.operators import Gate, GateSettings, Operator, load_operators
from edge.api.routes import router
from edge.errors import EdgeError
from edge.ops.metrics import make_metrics_app
from edge.pda import mount_pda
from edge.pins import verify_pin
from edge.runtimes.count_service import CountService
from edge.runtimes.handheld import HandheldDesks
from edge.runtimes.pick import PickService
from edge.stations.route import Metric
from edge.store.store import Store


def create_pick_app(
    store_path: Path,
    node_id: str,
    operators: Path | Iterable[Operator],
    **options: Any,
) -> FastAPI:
    """The pick API on its own (``guanjia edge pick-api``, tests): it opens the node's
    store, is its one writer while it runs, and closes it when the app shuts down.

    A store that has never been started gets its first epoch here (facts need one); on a
    node the daemon has run, the daemon owns the epochs. ``options``: :func:`pick_app`'s.
    """
    store = Store(store_path, node_id)
    try:
        if store.epoch == 0:
            store.start_epoch("guanjia-pick-api", "pick")
        app = pick_app(store, operators, **options)
    except BaseException:
        store.close()
        raise
    service: PickService = app.state.pick_service
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
        with service.lock:
            store.close()

    app.router.lifespan_context = lifespan
    return app


def pick_app(
    store: Store,
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
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_headers: int = DEFAULT_MAX_HEADERS,
    pda_service_worker: bool = False,
) -> FastAPI:
    """The pick API over ``store``, which the caller owns (the node daemon passes its own:
    one Store, one connection, one writer). ``operators``: an operators TOML file or the
    operators themselves.

    ``station`` names the station in facts (default the store's node id); ``warehouse``
    limits the bin table to one warehouse's bins; ``max_body_bytes`` bounds every request
    body (413 beyond, edge/api/limits.py) and ``max_headers`` the header fields of a request
    (431 beyond; the connection limits are the server's, edge/api/server.py); ``monotonic``/``verify``/``wall_ms`` are for
    tests. ``pda_service_worker``: the PDA pages' service worker (docs/pda.md, "Offline on
    the LAN"; off by default).
    """
    ops = load_operators(operators) if isinstance(operators, Path) else list(operators)
    settings = gate_settings or GateSettings()
    gate = Gate(ops, settings, monotonic=monotonic, verify=verify)
    pin_pool = PinPool(settings.hash_workers, settings.hash_queue)
    service = PickService(
        store,
        station=station or store.node_id,
        warehouse=warehouse,
        start=start,
        metric=metric,
        wall_ms=wall_ms,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        pin_pool.close()

    app = FastAPI(
        title="Guanjia edge pick API",
        version="1",
        description="Pick lists, scans and verdicts for PDAs on the warehouse LAN.",
        lifespan=lifespan,
    )
    app.state.pick_service = service
    # Stocktake by scanner (edge/api/counts.py): the same store, the same one writer's lock.
    app.state.count_service = CountService(
        store,
        station=station or store.node_id,
        warehouse=warehouse,
        lock=service.lock,
        wall_ms=wall_ms,
    )
    # Receiving, QC, putaway and returns on the handheld (edge/api/desks.py): the stations'
    # own runtimes over the same store, under the same lock.
    app.state.desks = HandheldDesks(
        store,
        station=station or store.node_id,
        warehouse=warehouse,
        lock=service.lock,
        wall_ms=wall_ms,
    )
    app.state.gate = gate
    app.state.pin_pool = pin_pool
    app.state.store = store
    app.include_router(router)
    app.include_router(counts_router)
    app.include_router(desks_router)
    # Outside everything but Starlette's error middleware: a too-large body is refused
    # before any route, dependency or JSON parser sees a byte of it.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(HeaderLimit, max_headers=max_headers)  # added last: runs first
    # A Route, not a Mount: a Mount answers /metrics with a redirect to /metrics/.
    app.router.routes.append(Route("/metrics", make_metrics_app(service.refresh_metrics)))
    # The PDA pages (docs/pda.md), in the same process as the sessions.
    mount_pda(app, service_worker=pda_service_worker)

    @app.exception_handler(EdgeError)
    async def edge_error(request: Request, err: EdgeError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's list of what is wrong, plus the stable code every refusal carries
        # (the PDA shows its own sentence for a code: docs/pda.md "Languages").
        # Less ``input`` and ``ctx``: echoing a body that is not UTF-8 (sent as text/csv,
        # say) failed to encode and turned the refusal into a 500 (seen fuzzing, issue 19).
        errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in err.errors()]
        body = {"detail": jsonable_encoder(errors), "code": "invalid_request"}
        return JSONResponse(body, status_code=422)

    return app
