"""Request limits (issue 13, finding 5) against a real uvicorn server with the hub's options:
body size from Content-Length and while streaming (413, before authentication), head size
and field count (431), and connections that send nothing closed after a deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from cloud.app import create_app
from cloud.serve.protocol import uvicorn_options
from cloud.settings import Settings
from tests.support.sockets import answer as read_answer
from tests.support.sockets import slow_head_is_closed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[str, int]]:
    settings = Settings(
        database_url=db_url,
        mqtt_host="",
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        warm_on_start=False,
        http_head_timeout_s=1.0,
    )
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, ingest=False),
        host="127.0.0.1",
        port=port,
        log_level="error",
        **uvicorn_options(settings),
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield "127.0.0.1", port
    srv.should_exit = True
    thread.join(10)


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _send_all(sock: socket.socket, payload: bytes, total: int) -> int:
    """Send ``payload`` until ``total`` bytes or the server stops reading; bytes sent."""
    sent = 0
    sock.settimeout(5)
    try:
        while sent < total:
            sock.sendall(payload)
            sent += len(payload)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def test_declared_100mb_body_without_token_is_413_at_once(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        start = time.monotonic()
        sock.sendall(
            b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n" + b"[" * 65536
        )
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"request body larger than 1 MiB" in answer
        assert time.monotonic() - start < 2
        assert sock.recv(1) == b""  # connection closed: the rest of the body is never read


def test_chunked_oversize_body_is_413_and_memory_stays_flat(server: tuple[str, int]) -> None:
    before = _rss()
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"10000\r\n" + b"[" * 0x10000 + b"\r\n"  # 64 KiB chunks, no Content-Length
        sent = _send_all(sock, chunk, 100 * 1024 * 1024)
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 100 * 1024 * 1024  # the server stopped reading long before 100 MB
    assert _rss() - before < 40 * 1024 * 1024


def test_import_has_its_larger_limit(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/skus/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 2000000\r\n\r\n" + b"a" * 2_000_000
        )
        answer = read_answer(sock)
    # 2 MB is within the import's 20 MiB: it reaches the route, which wants a token.
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/skus/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 30000000\r\n\r\n"
        )
        assert b"larger than 20 MiB" in read_answer(sock)


def test_50mb_header_is_refused(server: tuple[str, int]) -> None:
    before = _rss()
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = _send_all(sock, b"a" * 65536, 50 * 1024 * 1024)
        answer = read_answer(sock)
    assert sent < 50 * 1024 * 1024
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert _rss() - before < 40 * 1024 * 1024


def test_too_many_header_fields_are_431(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(200))
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 431")


def test_idle_connection_is_closed(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.settimeout(5)
        start = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, having received nothing
        assert time.monotonic() - start < 3
    # A slow head (a byte now and then, never complete) is closed by the same deadline.
    assert slow_head_is_closed(server, "/api/v1/health")


def test_keep_alive_then_idle_is_closed(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_answer(sock)
        assert first.startswith(b"HTTP/1.1 200"), first
        sock.settimeout(10)
        start = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - start < 3


def test_ordinary_requests_still_work(server: tuple[str, int]) -> None:
    import httpx

    base = f"http://{server[0]}:{server[1]}"
    r: Any = httpx.post(
        base + "/api/v1/auth/token", data={"account": "x", "username": "x", "password": "y"}
    )
    assert r.status_code == 401
    assert httpx.get(base + "/api/v1/health").status_code == 200
