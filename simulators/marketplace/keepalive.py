"""HTTP/1.1 with persistent connections for the stdlib WSGI server.

``wsgiref``'s request handler answers HTTP/1.0 and serves one request per TCP connection, so
a hub downloading a Double-11 hour paid a connect (and the server a new thread) per API
call (docs/benchmarks.md, Channels, S33). This handler serves request after request on one
connection, as RFC 9112 section 9.3 makes the default for HTTP/1.1, and closes it only when
it cannot tell where the next request begins:
- a response without Content-Length (the body would end at the close): "Connection: close";
- a request body the application did not read to its end (a 413 refusal, say): the bytes
  left would be read as the next request line;
- a request the client or the HTTP/1.0 protocol asks to close (``parse_request`` decides).
An idle connection is closed after ``timeout`` seconds, so a client gone away does not hold a
thread; httpx drops its own idle connections sooner (5 s), before the server does.
"""

from __future__ import annotations

import io
from typing import IO, Any, cast
from wsgiref.headers import Headers
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer


class _Counted(io.RawIOBase):
    """The request body as the application reads it, never past Content-Length (RFC 9112
    section 6.3: the body is exactly that many bytes), counting what was read."""

    def __init__(self, raw: Any, length: int) -> None:
        self.raw, self.left = raw, length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        n = self.left if size is None or size < 0 else min(size, self.left)
        data = self.raw.read(n) if n else b""
        self.left -= len(data)
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        n = self.left if size is None or size < 0 else min(size, self.left)
        data = self.raw.readline(n) if n else b""
        self.left -= len(data)
        return bytes(data)


class _Handler11(ServerHandler):
    http_version = "1.1"
    headers: Headers
    request_handler: KeepAliveHandler

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        if "Content-Length" not in self.headers:
            # The body ends where the connection does: say so, and end it.
            self.headers["Connection"] = "close"
            self.request_handler.close_connection = True


class KeepAliveHandler(WSGIRequestHandler):
    """A WSGI request handler that answers HTTP/1.1 and keeps the connection open."""

    protocol_version = "HTTP/1.1"
    #: Seconds an idle connection is kept (socketserver sets it on the socket).
    timeout = 60

    def handle(self) -> None:
        self.close_connection = True
        self._one()
        while not self.close_connection:
            self._one()

    def _one(self) -> None:
        """``WSGIRequestHandler.handle`` for one request of the connection."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:
            self.close_connection = True  # idle past the timeout
            return
        if not self.raw_requestline:
            self.close_connection = True  # the client closed it
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # an error was sent; parse_request closes
            self.close_connection = True
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # wsgiref reads no chunked bodies: what follows is not a request line.
            self.close_connection = True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length, self.close_connection = 0, True
        body = _Counted(self.rfile, max(0, length))
        handler = _Handler11(
            cast(IO[bytes], body),
            cast(IO[bytes], self.wfile),
            self.get_stderr(),
            self.get_environ(),
            multithread=False,
        )
        handler.request_handler = self  # backpointer for logging
        app = cast(WSGIServer, self.server).get_app()
        assert app is not None
        handler.run(app)
        if body.left:
            self.close_connection = True  # the body's rest would be read as a request
