"""The pick API's HTTP connections, bounded: how long a request head may take, how large it
may be, and how many connections may wait for one.

uvicorn arms its keep-alive timeout only after an answer, so a connection that never sends
a byte is never closed: 19,980 of them exhausted the open-file limit, after which every
request failed; and a 50 MB header was taken whole (issue 13, finding 5; OWASP API Security
Top 10 2023, API4 "Unrestricted Resource Consumption"). Here, on uvicorn's h11 protocol:

- a connection must deliver a whole request line and headers within ``head_timeout_s`` of
  opening, or of its previous answer, or it is closed (idle sockets and slow-header
  "slowloris" clients alike); an idle keep-alive connection is closed after
  ``keep_alive_s`` (uvicorn's own timer);
- more than ``max_head_bytes`` before the headers are complete is answered 431 (RFC 6585
  §5) and the connection closed (the field count is checked by ``HeaderLimit`` in
  edge/api/limits.py, on the parsed head, which this bound keeps small);
- at most ``max_connections`` are open: a new one beyond that closes the connection that
  has waited longest for a request head (never one whose request is being served), so a
  flood of idle sockets can neither take every file descriptor nor keep a picker out.
  uvicorn's ``limit_concurrency`` is not used: it counts idle connections too and answers
  the picker 503 while they stay.

h11, not httptools: h11 comes with uvicorn (the edge does not install httptools), so a Pi
and the tests run the same parser; a warehouse's few PDAs do not need httptools' speed.
The hub has its own equivalent for httptools (cloud/serve/protocol.py); the edge may not
import the cloud.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from edge.api.limits import HttpLimits

_BODY = b'{"detail":"request line and headers too large; send fewer","code":"too_large"}'
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits above; :func:`protocol_for` makes a subclass
    holding one server's limits and its connections waiting for a head."""

    head_timeout_s: ClassVar[float] = HttpLimits.head_timeout_s
    max_head_bytes: ClassVar[int] = HttpLimits.max_head_bytes
    max_connections: ClassVar[int] = HttpLimits.max_connections
    #: Connections waiting for a request head, longest-waiting first (a dict keeps the order
    #: of insertion). One per server: :func:`protocol_for` gives each subclass its own.
    waiting: ClassVar[dict[GuardedH11Protocol, None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows it too
        super().connection_made(transport)
        self._await_head()
        if len(self.connections) > self.max_connections:
            # The oldest waiter goes; if every other connection is being served, that is
            # this one.
            oldest = next(iter(self.waiting))
            oldest._close_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)  # may dispatch the request, or answer 400 and close
        if self._refused or self.transport.is_closing():
            return
        if self._in_head:
            if self.conn.their_state is not h11.IDLE:
                # h11 produced the request: the head is complete (its body may follow).
                self._stop_waiting()
            elif self._head_bytes > self.max_head_bytes:
                self._refuse()
        elif self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        ):
            # A body that ended after its answer (a route that does not read it): the
            # connection now waits for a head like any other. uvicorn's keep-alive timer,
            # armed at the answer, was cancelled when this body arrived.
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        # h11 refuses a head past h11_max_incomplete_event_size (set to max_head_bytes) itself,
        # with a 400; that is this limit, so answer what it is.
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse()
        elif not self._refused:
            super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start the next, pipelined request
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()

    def _await_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self.waiting.pop(self, None)
        self.waiting[self] = None  # now the youngest waiter
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._close_idle)

    def _stop_waiting(self) -> None:
        self._in_head = False
        self.waiting.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _close_idle(self) -> None:
        """Close a connection that is waiting for a request head (no request is lost)."""
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self) -> None:
        self._refused = True
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()


def protocol_for(limits: HttpLimits) -> type[GuardedH11Protocol]:
    return type(
        "PickApiHttpProtocol",
        (GuardedH11Protocol,),
        {
            "head_timeout_s": limits.head_timeout_s,
            "max_head_bytes": limits.max_head_bytes,
            "max_connections": limits.max_connections,
            "waiting": {},
        },
    )


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """The options every uvicorn server of the pick API runs with (``guanjia edge pick-api``
    and the node daemon). The field count is the app's (``pick_app(max_headers=...)``)."""
    return {
        "http": protocol_for(limits),
        "ws": "none",
        "timeout_keep_alive": limits.keep_alive_s,
        # h11 bounds the head it buffers by this too; our check above answers first, with 431.
        "h11_max_incomplete_event_size": limits.max_head_bytes,
    }
