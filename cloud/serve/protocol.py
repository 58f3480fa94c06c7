"""uvicorn's HTTP protocol (httptools) with the limits it lacks: a deadline for the request
head, and a bound on its size and on its number of header fields.

uvicorn arms its keep-alive timeout only after an answer, so a connection that never sends a
byte is never closed: 19,980 of them exhausted the open-file limit, after which every request
failed. And httptools gathers a header of any length (a 50 MB header was taken whole).
OWASP API Security Top 10 2023, API4 (unrestricted resource consumption). Here:

- a connection must deliver a whole request line and headers within ``head_timeout_s`` of
  opening, or of its previous answer, or it is closed (idle sockets and slow-header
  "slowloris" clients alike);
- more than ``max_head_bytes`` before the headers are complete, or more than ``max_headers``
  fields, is answered 431 (RFC 6585 §5) and the connection closed.

The body has its own limit (cloud/api/limits.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from cloud.settings import Settings

_BODY = b'{"detail":"request line and headers too large; send fewer"}'
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """The limits are class attributes: :func:`protocol_for` makes a subclass with them."""

    head_timeout_s: float = 10.0
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0
        self._head_fields = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows it too
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head and not self._refused:
            # The parser holds a header being read in memory: count what arrived since the
            # request began and the headers are still not complete.
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._head_fields = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += 1
        if self._head_fields > self.max_headers:
            self._refuse()
            raise ValueError("too many header fields")  # stops the parser
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()
        cycle = self.cycle
        # A new request's cycle (an upgrade keeps the old one, already wrapped).
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]  # a Transport's write and close, and the rest passed through

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._in_head = True
            self._head_bytes = 0
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a 431 has been sent; the parser's error after it is not news
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    return type(
        "HubHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "head_timeout_s": settings.http_head_timeout_s,
            "max_head_bytes": settings.http_max_head_bytes,
            "max_headers": settings.http_max_headers,
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The limits every uvicorn server of the hub runs with (``serve`` and its workers)."""
    return {
        "http": protocol_for(settings),
        "timeout_keep_alive": settings.http_keep_alive_s,
        # uvicorn answers 503 beyond this many connections and requests in progress.
        "limit_concurrency": settings.http_limit_concurrency,
        # Used if h11 is ever chosen instead (it bounds the head itself).
        "h11_max_incomplete_event_size": settings.http_max_head_bytes,
    }


class HeadWithBody:
    """A response's transport that sends its status line and headers with its body, in one
    write, when a body of known length follows.

    uvicorn writes the head when the application starts the answer and the body when it
    sends it: two ``send`` system calls for every answer, and on loopback each one also runs
    the receiving side's TCP work on this process's CPU: ~9 % of a worker's samples were in
    that send (py-spy, issue 20, docs/benchmarks.md "S35"). A head with a ``content-length``
    above zero is held here until the next write, which is its body (Starlette sends it
    right after the start), and the two go out together (``writelines``: one ``writev``).
    Nothing else waits: a streamed (chunked) answer, an empty body, a HEAD answer and the
    ``100 Continue`` interim answer are written at once, as before; a held head is written
    before the connection is closed and when the answer completes, so the bytes on the wire
    are the same, in the same order.
    """

    __slots__ = ("_cycle", "_head", "_seen_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._seen_head = False

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))
            return
        cycle = self._cycle
        if (
            not self._seen_head
            and cycle.response_started
            and cycle.chunked_encoding is False
            and cycle.expected_content_length > 0
            and cycle.scope["method"] != "HEAD"
        ):
            # The head (uvicorn writes it once the start is read); its body comes next.
            self._seen_head = True
            self._head = data
            return
        if cycle.response_started:
            self._seen_head = True
        self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
