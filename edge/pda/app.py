"""Mounting the PDA pages on the pick API app (edge/api/app.py calls :func:`mount_pda`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from edge.pda import shell
from edge.pda.routes import router

STATIC_DIR = Path(__file__).with_name("static")


class _Cached:
    """Static files under a versioned URL (``?v=<digest>``, templates add it) are cached a
    year: later pages cost only their HTML (the page-weight budget, docs/pda.md)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or b"v=" not in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return

        async def send_cached(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_cached)


def mount_pda(app: FastAPI, *, service_worker: bool = False) -> None:
    """Serve the PDA pages under ``/pda`` beside the JSON API of ``app``.

    ``service_worker``: the pages register ``/pda/sw.js`` where the browser allows it (a
    secure context: docs/pda.md "Offline on the LAN"); off, the worker is not served and
    the pages remove one left from before.
    """
    app.state.pda_service_worker = service_worker
    # Computed once at startup: the files do not change under a running node.
    app.state.pda_shell_version = shell.version()
    app.include_router(router)
    static = StaticFiles(directory=STATIC_DIR)
    app.mount("/pda/static", _Cached(GZipMiddleware(static, minimum_size=512)), name="pda-static")
