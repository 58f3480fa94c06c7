"""What many tests need: free ports and waiting for a condition, written once."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait(cond: Callable[[], bool], timeout: float = 8.0, what: str = "the condition") -> None:
    """Poll ``cond`` until it holds; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def until(
    cond: Callable[[], bool], timeout: float = 8.0, what: str = "the condition"
) -> None:
    """``wait`` for coroutines: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts TCP connections on ``port``."""

    def open_() -> bool:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait(open_, timeout, f"a listener on {host}:{port}")
