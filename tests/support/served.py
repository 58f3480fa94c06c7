"""An ASGI app served by uvicorn on a free loopback port in a thread, for tests that drive a
real browser (Chromium speaks HTTP to a socket; TestClient has none)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.support import free_port


@contextmanager
def served(app: Any, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``); stops the server on exit."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not srv.started:
        assert thread.is_alive(), "the server thread died while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
