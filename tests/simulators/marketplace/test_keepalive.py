"""The simulator's HTTP server answers HTTP/1.1 and serves many requests on one connection
(simulators/marketplace/keepalive.py), closing it only where the next request's start is
unknown: a request body left unread (a 413 refusal) or an HTTP/1.0 client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from simulators.marketplace.app import MAX_BODY, MarketplaceApp, serve
from simulators.marketplace.market import Market


@pytest.fixture
def port() -> Iterator[int]:
    server = serve(MarketplaceApp(Market(seed=1)), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_port)
    server.shutdown()
    server.server_close()


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Sends a request, reads one whole response (its head and Content-Length bytes)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_many_requests_on_one_connection(port: int) -> None:
    get = f"GET /_sim/clock HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(3):
            answer = _exchange(sock, get)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert b'"now"' in answer
        # A POST whose body the application reads, then a GET on the same connection.
        body = b"a=1"
        post = (
            f"POST /router/rest HTTP/1.1\r\nHost: x\r\nContent-Type: "
            f"application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        assert _exchange(sock, post).startswith(b"HTTP/1.1 200 ")  # a TOP error envelope
        assert _exchange(sock, get).startswith(b"HTTP/1.1 200 ")


def test_httpx_reuses_the_connection(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        ports = set()
        for _ in range(5):
            r = client.get("/_sim/clock")
            assert r.status_code == 200 and r.http_version == "HTTP/1.1"
            ports.add(r.extensions["network_stream"].get_extra_info("socket").getsockname())
        assert len(ports) == 1  # one local port: one TCP connection for the five calls


def test_a_body_left_unread_closes_the_connection(port: int) -> None:
    # Over MAX_BODY the application refuses without reading: the bytes sent would be read as
    # the next request line, so the connection ends after the answer.
    head = (
        f"POST /router/rest HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer = _exchange(sock, head + b"x" * 1000)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert _closed(sock)


def test_an_http_1_0_client_gets_one_answer_per_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer = _exchange(sock, b"GET /_sim/clock HTTP/1.0\r\n\r\n")
        assert b" 200 " in answer.split(b"\r\n", 1)[0]
        assert _closed(sock)
