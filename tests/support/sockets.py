"""Raw-socket probes of an HTTP server's connection limits (the hub's and the PDA API's)."""

from __future__ import annotations

import socket
import time


def answer(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """What the server sends until it closes or a whole JSON answer has arrived."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        pass
    return data


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes the connection within ``seconds`` (having sent nothing)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def slow_head_is_closed(address: tuple[str, int], path: str, within_s: float = 4.0) -> bool:
    """A request head sent a byte now and then, never complete: closed within ``within_s``?"""
    with socket.create_connection(address) as sock:
        sock.settimeout(5)
        sock.sendall(f"GET {path} HTTP/1.1\r\n".encode())
        start = time.monotonic()
        while time.monotonic() - start < within_s:
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                return True
            time.sleep(0.2)
        return False
