"""The FastAPI application, built by a factory from explicit settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cloud.api.routes import router
from cloud.catalogue import ConflictError
from cloud.db import make_engine, migrate, session_factory
from cloud.ingest_worker import IngestWorker
from cloud.settings import Settings


def create_app(settings: Settings, *, ingest: bool = True) -> FastAPI:
    """Build the hub. Nothing connects until the app starts (lifespan)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate, engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.ingest = None
        task = None
        if ingest and settings.mqtt_host:
            app.state.ingest = IngestWorker(settings, app.state.sessions)
            task = asyncio.create_task(app.state.ingest.run(), name="mqtt-ingest")
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            engine.dispose()

    app = FastAPI(
        title="Guanjia cloud hub",
        version="1",
        summary="Orders, stock and the edge nodes of one seller's warehouses.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(router)

    @app.exception_handler(ConflictError)
    async def _conflict(_request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    return app
