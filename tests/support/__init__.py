"""What many tests need: free ports and waiting for a condition, written once."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


#: How long a wait for a condition lasts unless a test bounds it itself. Generous: make test
#: runs the browser and end-to-end tests two at a time beside each other's hubs, nodes and
#: browsers, and a passing test never waits it out (a latency bound is a test's own figure).
PATIENCE = 30.0


def wait(cond: Callable[[], bool], timeout: float = PATIENCE, what: str = "the condition") -> None:
    """Poll ``cond`` until it holds; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def until(
    cond: Callable[[], bool], timeout: float = PATIENCE, what: str = "the condition"
) -> None:
    """``wait`` for coroutines: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], timeout: float = 15.0) -> None:
    """Cancel ``tasks`` and wait for them, at most ``timeout`` s; fail naming those left.

    A bounded teardown: a daemon that ignores its cancel fails the test instead of hanging
    it until pytest-timeout (issue 19). 15 s covers aiomqtt's 10 s wait for the broker to
    close after a DISCONNECT.
    """
    tasks = list(tasks)
    for t in tasks:
        t.cancel()
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    assert not pending, f"tasks that did not end {timeout} s after their cancel: {pending}"
    for t in tasks:
        if not t.cancelled() and t.exception() is not None:
            raise AssertionError(f"task {t.get_name()} failed") from t.exception()


def run_bounded(coro: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` without its final cancel-and-wait of leftover tasks, which would hang
    on a task that ignores cancels: a test that catches one must fail, not hang."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts TCP connections on ``port``."""

    def open_() -> bool:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait(open_, timeout, f"a listener on {host}:{port}")
