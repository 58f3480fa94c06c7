"""The FastAPI application, built by a factory from explicit settings."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import URL, make_url
from sqlalchemy.exc import IntegrityError

from cloud import heap, metrics
from cloud.api import (
    aftersales,
    auth,
    channel_changes,
    channel_stock,
    channel_webhooks,
    channels,
    courier_bills,
    einvoices,
    finance,
    fundflow,
    leases,
    orders,
    payables,
    platform,
    purchases,
    rules,
    serials,
    settlements,
    skus,
    statements,
    stock,
    tasks,
    transfers,
    users,
    warehouses,
    waybills,
    wechat_bill_jobs,
)
from cloud.api.deps import ExportSlots, push
from cloud.api.hostile import RefuseHostileInput, safe
from cloud.api.limits import BodyLimit
from cloud.api.metrics import Timing
from cloud.api.metrics import router as metrics_router
from cloud.api.nodes import router as nodes_router
from cloud.auth import HashPool, TokenVersions
from cloud.catalogue import job_runner
from cloud.channels import runner as channels_runner
from cloud.db import sqlite_stats
from cloud.db.engine import make_engine, migrate, session_factory, with_server_settings
from cloud.errors import DomainError
from cloud.finance import poster as finance_poster
from cloud.finance import sealed, wechat_jobs
from cloud.finance.einvoice import worker as einvoice_worker
from cloud.inbound import transfer_watch
from cloud.login import KnownLocks, LoginPolicy
from cloud.serve import warmup
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from cloud.web import mount as web


def _in_memory(url: URL) -> bool:
    """An in-memory SQLite database (it exists per connection pool)."""
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url)
    )


def _pool(settings: Settings) -> dict[str, Any]:
    """Pooled connections per engine: enough for the handler threads and the commits in
    flight, so that connections are kept, not opened and closed under load (each new
    PostgreSQL connection is a new backend whose caches start cold)."""
    if _in_memory(make_url(settings.database_url)):
        return {}  # one connection per thread (SQLAlchemy's pool for in-memory SQLite)
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_pool_size}


def _server_url(settings: Settings) -> str:
    """The hub's database URL, with ``db_plan_cache_mode`` on PostgreSQL (Settings says why)."""
    if settings.db_plan_cache_mode == "auto":
        return settings.database_url
    return with_server_settings(settings.database_url, plan_cache_mode=settings.db_plan_cache_mode)


async def _stopped(stop: Callable[[], None]) -> None:
    """A worker's blocking stop (it joins its thread), off the loop; here on a loop that is
    closing. A lifespan left open is ended by ``asyncio.run``'s teardown after the loop's
    executor shut down: ``to_thread`` then raised "cannot schedule new futures after
    shutdown" and the workers after the first, the pools and the engines were left running
    (seen in the test logs)."""
    try:
        await asyncio.to_thread(stop)
    except RuntimeError:
        stop()


def create_app(settings: Settings, *, ingest: bool = True) -> FastAPI:
    """Build the hub. Nothing connects until the app starts (lifespan)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(_server_url(settings), **_pool(settings))
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate, engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        # Reads (GET) on SQLite begin deferred, beside the writers (cloud/db/engine.py make_engine).
        # (An in-memory SQLite database exists per connection pool: it keeps one engine.)
        read_engine = (
            make_engine(settings.database_url, read_only=True, **_pool(settings))
            if engine.dialect.name == "sqlite" and not _in_memory(engine.url)
            else engine
        )
        app.state.read_sessions = session_factory(read_engine)
        # An API GET's session (cloud/api/deps.py _reading): on PostgreSQL in autocommit, on
        # the same pool (the isolation level is the connection's client-side setting).
        app.state.api_read_sessions = (
            session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
            if engine.dialect.name == "postgresql"
            else app.state.read_sessions
        )
        app.state.token_versions = TokenVersions(
            app.state.read_sessions, settings.token_version_cache_s
        )
        metrics.watch_pool(engine, "main")
        if read_engine is not engine:
            metrics.watch_pool(read_engine, "read")
        # Commits and rollbacks of API requests (cloud/api/deps.py _session says why).
        app.state.commit_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="commit")
        # Handlers are synchronous Python holding the GIL most of the time: more threads than
        # a few only queue for the GIL (and for pooled connections), switching all the while;
        # requests wait more cheaply on the event loop (``http_threads``).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        # SQLite has one writer at a time: this process's API writers queue for it here.
        app.state.writer_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # Password checks off the handler threads, bounded (cloud/auth.py HashPool).
        app.state.hash_pool = HashPool(settings.login_hash_threads, settings.login_hash_queue)
        app.state.export_slots = ExportSlots(settings.exports_per_user, settings.exports_per_worker)
        # SKU import jobs, from the database, in worker processes (cloud/catalogue/job_runner.py).
        app.state.import_jobs = job_runner.Runner(
            settings.database_url,
            app.state.sessions,
            app.state.read_sessions,
            settings.import_jobs_per_worker,
            lambda pushes: push(app.state.ingest, pushes),
        )
        if settings.warm_on_start:
            # Before the first request (cloud/serve/warmup.py says why); the pool keeps what it
            # opened. A SQLite connection has no server-side caches to warm: one will do.
            n = settings.db_pool_size if engine.dialect.name == "postgresql" else 1
            await asyncio.to_thread(warmup.warm, app.state.read_sessions, n)
        heap.settle()
        app.state.ingest = None
        task = None
        if ingest and settings.mqtt_host:
            app.state.ingest = IngestWorker(settings, app.state.sessions)
            task = asyncio.create_task(app.state.ingest.run(), name="mqtt-ingest")
        app.state.import_jobs.start()
        # Scheduled and requested downloads and shipment confirmations, shared with the
        # other workers through leases in the database (cloud/channels/scheduler.py). Not
        # on an in-memory database: another thread would see a database of its own.
        app.state.channels = None
        if settings.channels_scheduler and not _in_memory(engine.url):
            app.state.channels = channels_runner.hub_scheduler(
                app.state.sessions,
                settings.channels_poll_s,
                # The pools' top-ups and give-backs reach the nodes at once, not at their
                # next hello (the changes are in the downlink outbox already).
                lambda pushes: push(app.state.ingest, pushes),
                pool_wait=timedelta(hours=settings.waybill_pool_force_after_h),
                push_loop=settings.stock_push_loop,
            )
            app.state.channels.start()
        # Order history and PO receipts into the books (cloud/finance/poster.py): shared
        # with the other workers through a lock on each stream's cursor row.
        app.state.finance = None
        if settings.finance_poster and not _in_memory(engine.url):
            app.state.finance = finance_poster.Worker(
                app.state.sessions,
                timedelta(seconds=settings.finance_poll_s),
                timedelta(seconds=settings.finance_lag_s),
            )
            app.state.finance.start()
            # E-invoices to the provider and back (cloud/finance/einvoice/worker.py): the
            # same switch and poll; rows are claimed with SKIP LOCKED and a lease.
            app.state.einvoices = einvoice_worker.Worker(
                app.state.sessions,
                timedelta(seconds=settings.finance_poll_s),
                timedelta(seconds=settings.einvoice_query_s),
            )
            app.state.einvoices.start()
            # Each merchant's WeChat Pay bills, fetched daily (cloud/finance/wechat_jobs.py):
            # jobs claimed with a lease, each day's cursor moved in the transaction that
            # imports it.
            app.state.wechat_bills = wechat_jobs.Worker(
                app.state.sessions,
                timedelta(seconds=settings.finance_poll_s),
                channels_runner.owner_id(),
                settings.wechatpay_ca_bundle,
                sealed.box_of(settings.secrets_key),
            )
            app.state.wechat_bills.start()
        # Rests of short transfers nobody ships (cloud/inbound/transfer_watch.py).
        app.state.transfer_watch = None
        if settings.transfer_watch_poll_s and not _in_memory(engine.url):
            app.state.transfer_watch = transfer_watch.Worker(
                app.state.sessions,
                timedelta(seconds=settings.transfer_watch_poll_s),
                timedelta(seconds=settings.transfer_rest_wait_s),
            )
            app.state.transfer_watch.start()
        # SQLite's planner statistics, at start and every hour (cloud/db/sqlite_stats.py).
        app.state.sqlite_stats = None
        if (
            settings.sqlite_analyze_s
            and engine.dialect.name == "sqlite"
            and not _in_memory(engine.url)
        ):
            await asyncio.to_thread(sqlite_stats.refresh, engine, settings.sqlite_analyze_min_pages)
            app.state.sqlite_stats = sqlite_stats.Worker(
                engine,
                timedelta(seconds=settings.sqlite_analyze_s),
                settings.sqlite_analyze_min_pages,
            )
            app.state.sqlite_stats.start()
        try:
            yield
        finally:
            if app.state.sqlite_stats is not None:
                await _stopped(app.state.sqlite_stats.stop)
            if app.state.transfer_watch is not None:
                await _stopped(app.state.transfer_watch.stop)
            if app.state.finance is not None:
                await _stopped(app.state.finance.stop)
                await _stopped(app.state.einvoices.stop)
                await _stopped(app.state.wechat_bills.stop)
            if app.state.channels is not None:
                await _stopped(app.state.channels.stop)
            app.state.import_jobs.stop()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.commit_pool.shutdown(wait=True)
            app.state.hash_pool.shutdown()
            engine.dispose()
            if read_engine is not engine:
                read_engine.dispose()

    app = FastAPI(
        title="Guanjia cloud hub",
        version="1",
        summary="Orders, stock and the edge nodes of one seller's warehouses.",
        lifespan=lifespan,
        # The API's description and its viewers only when a setting asks (Settings.api_docs).
        openapi_url="/openapi.json" if settings.api_docs else None,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        **_NO_OTEL,
    )
    app.state.settings = settings
    app.state.login_policy = LoginPolicy(
        user_failures=settings.login_user_failures,
        client_failures=settings.login_client_failures,
        window_s=settings.login_window_s,
        lockout_s=settings.login_lockout_s,
        max_lockout_s=settings.login_max_lockout_s,
    )
    app.state.known_locks = KnownLocks()
    app.state.jwt_secret = settings.jwt_secret or secrets.token_urlsafe(32)
    if settings.jwt_secret is None:
        logging.getLogger("guanjia.cloud").warning(
            "GUANJIA_JWT_SECRET unset: tokens are signed with a per-process secret"
        )
    app.include_router(nodes_router)
    app.include_router(metrics_router)
    app.add_middleware(RefuseHostileInput)
    app.add_middleware(Timing)
    if settings.cors_origins:
        # Explicit origins only, never "*" (closed by default: no CORSMiddleware, no CORS
        # headers, so browsers refuse cross-origin reads; OWASP API8:2023). Tokens travel in
        # the Authorization header, not cookies: no credentials mode.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    # Outermost (added last): a body too large is refused before routing, authentication
    # and parsing (cloud/api/limits.py).
    app.add_middleware(
        BodyLimit,
        default=settings.http_max_body_bytes,
        routes={
            "/api/v1/skus/import": settings.http_max_import_bytes,
            "/api/v1/skus/imports": settings.http_max_import_bytes,
            # The dashboard's upload form: the file and a few fields around it.
            web.IMPORT_PATH: settings.http_max_import_bytes + web.FORM_SLACK,
            # Settlement bills (cloud/api/settlements.py, cloud/web/pages/settlements.py).
            "/api/v1/finance/settlements": settings.http_max_import_bytes,
            "/api/v1/finance/fundflow-bills": settings.http_max_import_bytes,
            "/web/finance/settlements": settings.http_max_import_bytes + web.FORM_SLACK,
            "/web/finance/fundflow-bills": settings.http_max_import_bytes + web.FORM_SLACK,
        },
        refusal=web.too_large,
    )
    for module in (
        auth,
        users,
        skus,
        warehouses,
        stock,
        purchases,
        transfers,
        serials,
        orders,
        rules,
        tasks,
        platform,
        channels,
        channel_webhooks,
        waybills,
        channel_changes,
        channel_stock,
        finance,
        einvoices,
        courier_bills,
        payables,
        statements,
        settlements,
        fundflow,
        wechat_bill_jobs,
        aftersales,
        leases,
    ):
        app.include_router(module.router)

    @app.exception_handler(DomainError)
    async def _refused(_request: Request, exc: DomainError) -> JSONResponse:
        # Every domain error, one shape (cloud/errors.py).
        return JSONResponse(status_code=exc.status, content=safe(exc.body()), headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 shape, less ``input`` and ``ctx``: echoing the input failed to
        # encode a lone surrogate or NaN and turned a refusal into a 500 (issue 13, finding 8).
        # ``loc`` may hold a key the client sent (an unknown field): made encodable.
        detail = [
            {"loc": safe(list(e["loc"])), "msg": safe(str(e["msg"])), "type": e["type"]}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A race lost to a concurrent writer (two creates of one key): a conflict, not a 500.
        return JSONResponse(
            status_code=409, content={"detail": "conflicts with a concurrent change; retry"}
        )

    # The dashboard's pages (cloud/web/), after the handlers above: it answers its own
    # errors as pages and leaves the API's as they are.
    web.mount(app)
    _busiest_first(app, (auth.router, orders.router, stock.router, skus.router))
    return app


def _busiest_first(app: FastAPI, routers: tuple[APIRouter, ...]) -> None:
    """Try the routers of the busiest requests first (order lists and searches, stock views,
    SKU search: 85 % of ``guanjia bench cloud``'s mix; and before them the two routes of
    auth, the token check the bench's floor measures). FastAPI tries included routers in
    order, each route's pattern in turn: an order list was matched after ~80 routes of
    routers before it, ~0.1 ms of CPU per request (issue 20). No route shadows another
    (tests/cloud/api/test_route_order.py), so the order changes which is tried first, never
    which answers. A FastAPI that flattens included routes leaves nothing to move."""
    first = sorted(
        (r for r in app.router.routes if getattr(r, "original_router", None) in routers),
        key=lambda r: routers.index(r.original_router),  # type: ignore[attr-defined]
    )
    rest = [r for r in app.router.routes if r not in first]
    app.router.routes[:] = first + rest


#: FastAPI's built-in OpenTelemetry (FastAPI ≥ 0.160s: ``FastAPI(telemetry=…)``) asks the
#: OpenTelemetry API on every request whether a tracer, meter or logger provider is set up,
#: reading environment variables each time: 2.5% of a worker's CPU under ``guanjia bench
#: cloud`` (py-spy, issue 20). The hub does not use OpenTelemetry (its figures are
#: Prometheus's, /metrics): off, for versions that have it.
_NO_OTEL: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def app_from_environment() -> FastAPI:
    """One worker of ``guanjia cloud serve --workers N`` (uvicorn calls this in each process).

    Settings come from the environment ``serve`` prepared (cloud/cli.py); each worker's MQTT
    client id gets its process id, since the broker lets one connection hold a client id.
    """
    settings = Settings()
    if settings.http_workers > 1:
        settings = settings.model_copy(
            update={"mqtt_client_id": f"{settings.mqtt_client_id}-{os.getpid()}"}
        )
    return create_app(settings)
