"""Connection limits of the pick API (issue 13, finding 5, at the edge), against the real
``guanjia edge pick-api`` in its own process: a connection that sends no request head is
closed, so is an idle keep-alive one; a flood of idle sockets keeps no picker out and
takes no more than a bounded number of the node's file descriptors; an oversized head and
too many header fields get 431 and the server carries on (edge/api/server.py,
``HeaderLimit`` in edge/api/limits.py).

Before: uvicorn closed a connection that never sent a byte never, took a 50 MB header
whole, and with the node's open files used up by idle sockets a picker's login waited in
the listen backlog until the sockets went away.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.pins import hash_pin
from edge.store.store import Store
from simulators.broker import PrivateBroker
from simulators.net import free_port, wait_for_port
from tests.edge.api.conftest import NODE, PINS, fill
from tests.support.sockets import answer as read_answer
from tests.support.sockets import closed_within, slow_head_is_closed

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")

#: systemd's default soft limit of open files for a service.
NODE_NOFILE = 1024
IDLE_FLOOD = 2000


def _start(
    tmp_path: Path, *options: str, nofile: int | None = None, broker: PrivateBroker | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``guanjia edge pick-api`` with ``options``; with a ``broker``, the node daemon
    (``guanjia edge run``) serving the pick API instead."""
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "edge.db", NODE)
    fill(store)
    store.close()
    (tmp_path / "operators.toml").write_text(
        f'[[operator]]\nid = "li.lei"\npin_hash = "{hash_pin(PINS["li.lei"])}"\n',
        encoding="utf-8",
    )
    port = free_port()
    (tmp_path / "edge.toml").write_text(
        f'[node]\nid = "{NODE}"\ndata_dir = "data"\n'
        f"[mqtt]\nport = {broker.port if broker else 1883}\n"
        f'[station]\nkind = "pick"\nname = "pick-1"\n[pick]\noperators = "operators.toml"\n'
        f'host = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    command = ["run", "--config", "edge.toml"]
    if broker is None:
        command = [
            "pick-api",
            "--config",
            "edge.toml",
            "--operators",
            "operators.toml",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *options,
        ]

    def limit_files() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [sys.executable, "-c", "from edge.cli import app; app()", *command],
        cwd=tmp_path,
        stdout=(tmp_path / "api.log").open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=limit_files,
    )
    try:
        wait_for_port("127.0.0.1", port, 60)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The pick API with short timeouts: 1 s for a request head, 1 s of keep-alive."""
    proc, port = _start(tmp_path, "--head-timeout", "1", "--keep-alive", "1")
    try:
        yield "127.0.0.1", port
    finally:
        _stop(proc)


@pytest.fixture
def stock(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The pick API as a node runs it: default limits, systemd's 1,024 open files."""
    proc, port = _start(tmp_path, nofile=NODE_NOFILE)
    try:
        yield proc.pid, port
    finally:
        _stop(proc)


def _login(port: int, timeout: float = 5.0) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/api/v1/login",
        json={"operator": "li.lei", "pin": PINS["li.lei"]},
        timeout=timeout,
    )


def test_idle_connection_is_closed(quick: tuple[str, int]) -> None:
    with socket.create_connection(quick) as sock:
        start = time.monotonic()
        assert closed_within(sock, 5)  # having received nothing
        assert time.monotonic() - start < 3
    # A slow head (a byte now and then, never complete) is closed by the same deadline.
    assert slow_head_is_closed(quick, "/api/v1/waves")


def test_keep_alive_then_idle_is_closed(quick: tuple[str, int]) -> None:
    with socket.create_connection(quick) as sock:
        sock.sendall(b"GET /api/v1/waves HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 401")  # served: it wants a token
        start = time.monotonic()
        assert closed_within(sock, 5)
        assert time.monotonic() - start < 3


def test_a_body_sent_after_the_answer_does_not_keep_the_connection_open(
    quick: tuple[str, int],
) -> None:
    # /logout reads no body: it answers before the body arrives. uvicorn cancels its
    # keep-alive timer on any data, so the body's bytes used to leave it open for good.
    with socket.create_connection(quick) as sock:
        sock.sendall(b"POST /api/v1/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 401")
        sock.sendall(b"abcde")
        start = time.monotonic()
        assert closed_within(sock, 5)
        assert time.monotonic() - start < 3


def test_oversized_head_is_431_and_the_server_stays_healthy(quick: tuple[str, int]) -> None:
    with socket.create_connection(quick) as sock:
        sock.sendall(b"GET /api/v1/waves HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        sock.settimeout(5)
        try:
            while sent < 50 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        answer = read_answer(sock)
    assert sent < 50 * 1024 * 1024  # the server stopped reading long before 50 MB
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    # One just over the limit, sent whole, gets the 431 and its reason.
    with socket.create_connection(quick) as sock:
        sock.sendall(b"GET /api/v1/waves HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert b"too large" in answer
        assert closed_within(sock, 2)
    assert _login(quick[1]).status_code == 200
    # A head within the limit is served as before.
    r = httpx.get(f"http://127.0.0.1:{quick[1]}/api/v1/waves", headers={"X-Pad": "a" * 8000})
    assert r.status_code == 401


def test_too_many_header_fields_are_431(quick: tuple[str, int]) -> None:
    with socket.create_connection(quick) as sock:
        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(200))
        sock.sendall(b"GET /api/v1/waves HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert b"too many header fields" in answer
    # Forty fields are fine (a PDA sends about ten).
    many = {f"X-F{i}": "1" for i in range(40)}
    r = httpx.get(f"http://127.0.0.1:{quick[1]}/api/v1/waves", headers=many)
    assert r.status_code == 401


def test_many_idle_connections_keep_no_picker_out(stock: tuple[int, int]) -> None:
    pid, port = stock
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < IDLE_FLOOD + 100:
        pytest.skip("this test opens 2,000 sockets")
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_FLOOD):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))  # never sends a byte
            idle.append(s)
        time.sleep(1.0)  # let the server accept what it will
        start = time.monotonic()
        r = _login(port, timeout=8)
        assert r.status_code == 200, r.text
        assert time.monotonic() - start < 3
        # The node holds a bounded number of descriptors, well under its limit.
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        assert fds < 256 + 64, fds
    finally:
        for s in idle:
            s.close()


def test_the_node_daemon_serves_with_the_same_limits(tmp_path: Path, broker: PrivateBroker) -> None:
    proc, port = _start(tmp_path, broker=broker)
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/v1/waves HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
            assert read_answer(sock).startswith(b"HTTP/1.1 431")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(200))
            sock.sendall(b"GET /api/v1/waves HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
            assert read_answer(sock).startswith(b"HTTP/1.1 431")
        assert _login(port).status_code == 200
    finally:
        _stop(proc)
