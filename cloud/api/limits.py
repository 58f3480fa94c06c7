"""Request body limits, before routing, authentication and parsing (pure ASGI).

A hub that read and parsed any body it was sent took 100 MB of JSON without a token (four
clients: ~1 GB of memory, health checks up to 5 s): OWASP API Security Top 10 2023, API4
(unrestricted resource consumption). Here a body is refused with 413 (RFC 9110 §15.5.14)
when its ``Content-Length`` says it is too large, before a byte of it is read, and when a
body without one (chunked) grows past the limit while it is read. Nothing is buffered: each
chunk passes through as the application asks for it (a ``BaseHTTPMiddleware`` would read it
whole first). The answer closes the connection, so uvicorn reads no more of the body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: An answer of one's own for a refused body (media type, body), or None for the JSON one:
#: the dashboard's pages answer with a page a person reads (cloud/web/mount.py).
Refusal = Callable[[Scope, int], tuple[str, bytes] | None]


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:g} MiB"


class BodyLimit:
    """At most ``default`` bytes of body per request, or ``routes[path]`` for a path listed."""

    def __init__(
        self,
        app: ASGIApp,
        default: int,
        routes: Mapping[str, int],
        refusal: Refusal | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.routes = dict(routes)
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit, self.refusal)
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now, while the application is still reading (it has sent
                    # nothing), then tell it the client is gone so it stops.
                    refused = True
                    if not started:
                        await _refuse(scope, send, limit, self.refusal)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; what the application says after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The application failed on the body cut short: the 413 has been sent already.


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # malformed: the HTTP parser refuses it before it gets here
    return None


async def _refuse(scope: Scope, send: Send, limit: int, refusal: Refusal | None) -> None:
    own = refusal(scope, limit) if refusal is not None else None
    media, body = own or (
        "application/json",
        orjson.dumps({"detail": f"request body larger than {_mib(limit)}; send less"}),
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
