"""An answer's head and body leave in one write when the body's length is known
(cloud/serve/protocol.py ``HeadWithBody``), and every other answer's bytes as before: a
streamed answer, a HEAD answer, ``100 Continue``, an application that fails after its
start. The protocol runs over a transport that records each write (no sockets), so the
number of writes is exact."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from cloud.serve.protocol import protocol_for
from cloud.settings import Settings

BODY = b'{"ok":true}'


class Recorder(asyncio.Transport):
    """The socket's side of a connection: what was written, in order, one item per call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(bytes(d) for d in list_of_data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def fixed(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


async def streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def reads_body(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    body = message["body"]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def fails_after_start(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"11")]}
    )
    raise RuntimeError("failed mid-answer")


async def exchange(app: Any, *requests: bytes) -> Recorder:
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
    protocol = protocol_for(Settings(database_url="sqlite://", mqtt_host=""))(
        config, ServerState(), {}, _loop=asyncio.get_running_loop()
    )
    transport = Recorder()
    protocol.connection_made(transport)
    for i, request in enumerate(requests):
        protocol.data_received(request)
        if i == 0 and len(requests) > 1:
            await asyncio.sleep(0.01)  # the application asks for the body first
    for _ in range(50):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def test_head_and_body_of_known_length_are_one_write() -> None:
    t = asyncio.run(exchange(fixed, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert len(t.writes) == 1
    head, _, body = t.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 11" in head
    assert body == BODY


def test_two_answers_on_one_connection_are_one_write_each() -> None:
    t = asyncio.run(exchange(fixed, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
    t2 = asyncio.run(
        exchange(fixed, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
    )
    assert len(t.writes) == 1
    assert len(t2.writes) == 2 and t2.writes[0] == t2.writes[1] == t.writes[0]


def test_streamed_answer_is_written_as_it_comes() -> None:
    t = asyncio.run(exchange(streamed, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert t.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert t.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    assert t.writes[1:] == [b"4\r\npart\r\n", b"0\r\n\r\n"]


def test_head_request_gets_its_head() -> None:
    t = asyncio.run(exchange(fixed, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert len(t.writes) == 1
    assert t.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert t.writes[0].endswith(b"content-length: 11\r\n\r\n")


def test_100_continue_is_sent_before_the_body_is_read() -> None:
    head = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    t = asyncio.run(exchange(reads_body, head, b"abc"))
    assert t.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(t.writes) == 2
    assert t.writes[1].startswith(b"HTTP/1.1 200 OK\r\n") and t.writes[1].endswith(b"\r\n\r\nabc")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_failure_after_start_still_sends_the_head_then_closes() -> None:
    t = asyncio.run(exchange(fails_after_start, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert len(t.writes) == 1 and t.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert t.writes[0].endswith(b"content-length: 11\r\n\r\n")
    assert t.closed
