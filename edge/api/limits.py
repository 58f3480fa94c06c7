"""Bounds of the pick API: a small pool for PIN hashes, request body size and header count.

Both answer for OWASP API Security Top 10 2023, API4 "Unrestricted Resource
Consumption". A flood of 40 unauthenticated logins used to run 40 argon2 hashes at
once in FastAPI's thread pool (40 × 19 MiB, edge/pins.py): a picker's scan went from
5 ms to 921 ms and the node from 95 MB to 1.1 GB, which glibc's arenas kept; a 300 MB
body to /login was read whole. Now at most ``workers`` hashes run and ``queue`` wait,
the rest get 429 at once; and no body over ``max_bytes`` is read. The connection-level
limits (head size, timeouts, open connections) are edge/api/server.py's.

No web framework here: :class:`PinPool` is asyncio + threads, the middlewares plain ASGI.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, ParamSpec, TypeVar

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

P = ParamSpec("P")
T = TypeVar("T")

#: A login body is ~60 bytes, a scan at most 4,096 characters (edge/api/schemas.py).
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
#: A PDA sends about ten header fields.
DEFAULT_MAX_HEADERS: Final = 50


@dataclass(frozen=True)
class HttpLimits:
    """What one connection of the pick API may cost (enforced by edge/api/server.py; the
    header field count is the app's, :class:`HeaderLimit`). The defaults suit a warehouse LAN."""

    #: A request line and headers must arrive whole within this of the connection opening
    #: (or of its previous answer). A PDA sends its request at once; 10 s forgives Wi-Fi.
    head_timeout_s: float = 10.0
    #: An idle keep-alive connection is closed after this (uvicorn's ``timeout_keep_alive``).
    keep_alive_s: int = 5
    #: Request line plus headers: a PDA's are a few hundred bytes (a bearer token included).
    max_head_bytes: int = 16 * 1024
    #: Open connections. A warehouse's PDAs hold one or two each; 256 stays well under the
    #: 1,024 open files systemd gives a service by default, leaving room for the store,
    #: the broker connection and devices.
    max_connections: int = 256

    def __post_init__(self) -> None:
        if self.head_timeout_s <= 0 or self.keep_alive_s < 1:
            raise ValueError("timeouts must be positive (keep-alive at least 1 s)")
        if self.max_head_bytes < 1024 or self.max_connections < 1:
            raise ValueError("a head of at least 1 KiB and at least one connection")


class PoolBusy(Exception):
    """Every worker and queue slot of the pool is taken."""


class PinPool:
    """At most ``workers`` PIN hashes at once and ``queue`` waiting; beyond that, refuse.

    Memory is what bounds this on a Pi: each argon2id hash holds its memory cost
    (19 MiB, edge/pins.py) while it runs, so N concurrent hashes hold N × 19 MiB. Two
    workers keep a login at ~50-100 ms while leaving cores to the station and sync.
    """

    def __init__(self, workers: int = 2, queue: int = 8) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a PIN pool needs at least one worker and a queue >= 0")
        self.workers = workers
        self.limit = workers + queue
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="pin-hash")

    @property
    def pending(self) -> int:
        return self._pending

    def try_acquire(self) -> bool:
        """Take a slot (fast, never blocks); False if the pool is full."""
        with self._lock:
            if self._pending >= self.limit:
                return False
            self._pending += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._pending -= 1

    async def run_acquired(self, fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run ``fn`` in the pool on a slot taken by :meth:`try_acquire`; frees the slot.

        The slot is freed by the worker when ``fn`` ends, not by the caller: a client
        that hangs up cancels its wait but not the hash, so the count stays true.
        """

        def work() -> T:
            try:
                return fn(*args, **kw)
            finally:
                self.release()

        try:
            future = self._executor.submit(work)
        except BaseException:
            self.release()
            raise
        # shield: cancelling the request must not cancel a queued job whose slot only
        # the job itself frees.
        return await asyncio.shield(asyncio.wrap_future(future))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over ``max_bytes`` (RFC 9110 §15.5.14).

    A ``Content-Length`` over the limit is refused before the app runs and before a
    byte of the body is read; a body without one (chunked) is counted as it streams
    and refused the moment it passes the limit. The answer is the pick API's error
    shape (edge/errors.py) with ``Connection: close``: the rest of the body is not read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1  # the server rejects a malformed length itself
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    # The app sees a client that went away (Starlette: ClientDisconnect)
                    # and whatever it answers is dropped below: the 413 is sent.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        await _refuse(send, 413, f"request body too large: at most {self.max_bytes} bytes")


class HeaderLimit:
    """Pure ASGI middleware: 431 for a request with more than ``max_headers`` header fields
    (RFC 6585 §5), before anything else reads them. The head's size is bounded before it is
    parsed (edge/api/server.py), so the fields counted here are few kilobytes at most."""

    def __init__(self, app: ASGIApp, max_headers: int = DEFAULT_MAX_HEADERS) -> None:
        self.app = app
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["headers"]) > self.max_headers:
            await _refuse(send, 431, f"too many header fields: at most {self.max_headers}")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    """The pick API's error shape (edge/errors.py) with ``Connection: close``: what the
    client sends next on this connection is not read."""
    body = orjson.dumps({"detail": detail, "code": "too_large"})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
