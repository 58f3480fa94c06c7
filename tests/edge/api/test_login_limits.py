"""Login under attack: the lockout holds under concurrency, the PIN pool and per-client
limits answer 429 fast, and no body over the limit is read (docs/pick-api.md, "Limits")."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from edge.api.app import create_pick_app
from edge.api.operators import Gate, GateSettings, LoginRefused, Operator
from edge.pins import verify_pin
from tests.edge.api.conftest import NODE, PINS, STATION

LOGIN = "/api/v1/login"


def test_sixty_concurrent_wrong_pins_evaluate_at_most_five(operators: list[Operator]) -> None:
    # Before: the count moved after the hash, so all 60 passed the lock check while the
    # hashes ran (17 evaluated in the field report, ~60 here).
    verified: list[str] = []
    count_lock = threading.Lock()

    def counting_verify(pin: str, pin_hash: str) -> bool:
        with count_lock:
            verified.append(pin_hash)
        return verify_pin(pin, pin_hash)  # real argon2id: ~50 ms with the GIL released

    gate = Gate(operators, GateSettings(max_failures=5), verify=counting_verify)
    start = threading.Barrier(60)
    outcomes: list[int] = []

    def attempt() -> None:
        start.wait()
        try:
            gate.login("li.lei", "000000")
        except LoginRefused as err:
            with count_lock:
                outcomes.append(err.status)

    threads = [threading.Thread(target=attempt) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(verified) <= 5, f"{len(verified)} PINs evaluated before the lock"
    assert sorted(outcomes) == [401] * len(verified) + [403] * (60 - len(verified))
    # Locked now, even for the right PIN, and nothing more was evaluated.
    with pytest.raises(LoginRefused) as refused:
        gate.login("li.lei", PINS["li.lei"])
    assert refused.value.status == 403 and len(verified) <= 5


def test_a_good_pin_in_flight_while_others_lock_the_id_still_counts_once(
    operators: list[Operator],
) -> None:
    # The attempt that takes the last slot and is right clears the lock it set.
    gate = Gate(operators, GateSettings(max_failures=2))
    with pytest.raises(LoginRefused):
        gate.login("li.lei", "000000")
    attempt = gate.begin("li.lei")  # the 2nd attempt: the id is locked while it hashes
    with pytest.raises(LoginRefused) as locked:
        gate.login("li.lei", "000000")
    assert locked.value.status == 403
    gate.finish(attempt, PINS["li.lei"])  # right: the lock is lifted
    gate.login("li.lei", PINS["li.lei"])


def test_per_client_attempts_are_limited_with_retry_after(operators: list[Operator]) -> None:
    now = [0.0]
    gate = Gate(
        operators,
        GateSettings(max_failures=100, client_attempts=3, client_window_s=30),
        monotonic=lambda: now[0],
        verify=lambda pin, h: False,
    )
    for i in range(3):
        with pytest.raises(LoginRefused) as r:
            gate.login(f"ghost{i}", "0000", client="10.0.0.7")
        assert r.value.status == 401
    with pytest.raises(LoginRefused) as r:
        gate.login("ghost9", "0000", client="10.0.0.7")
    assert r.value.status == 429 and r.value.code == "too_many_attempts"
    assert r.value.headers == {"Retry-After": "11"}  # one token back every 10 s
    # Another device is not affected; after the refill this one may try again.
    with pytest.raises(LoginRefused) as r:
        gate.login("ghost0", "0000", client="10.0.0.8")
    assert r.value.status == 401
    now[0] += 10
    with pytest.raises(LoginRefused) as r:
        gate.login("ghost0", "0000", client="10.0.0.7")
    assert r.value.status == 401


def test_client_memory_is_bounded(operators: list[Operator]) -> None:
    gate = Gate(operators, GateSettings(max_tracked_clients=50), verify=lambda p, h: False)
    for i in range(500):
        with pytest.raises(LoginRefused):
            gate.login(f"x{i}", "0000", client=f"10.0.{i // 250}.{i % 250}")
    assert len(gate._clients) == 50  # the bound is the point


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://pda")


def test_a_full_pin_pool_answers_429_at_once(db: Path, operators: list[Operator]) -> None:
    release = threading.Event()
    running: list[str] = []

    def slow_verify(pin: str, pin_hash: str) -> bool:
        running.append(pin)
        release.wait(10)
        return False

    settings = GateSettings(max_failures=1000, client_attempts=1000, hash_workers=1, hash_queue=2)
    app = create_pick_app(
        db, NODE, operators, station=STATION, gate_settings=settings, verify=slow_verify
    )

    async def main() -> list[httpx.Response]:
        async with await _client(app) as http:
            waiting = [
                asyncio.create_task(http.post(LOGIN, json={"operator": f"u{i}", "pin": "0000"}))
                for i in range(3)
            ]
            while len(running) < 1:
                await asyncio.sleep(0.01)
            busy = await http.post(LOGIN, json={"operator": "u9", "pin": "0000"})
            release.set()
            return [busy, *await asyncio.gather(*waiting)]

    busy, *others = asyncio.run(main())
    assert busy.status_code == 429, busy.text
    assert busy.json() == {
        "detail": "too many logins at once: try again in a moment",
        "code": "busy",
    }
    assert busy.headers["Retry-After"] == "2"
    assert [r.status_code for r in others] == [401, 401, 401]
    assert len(running) == 3  # the refused one was never hashed
    app.state.store.close()


def test_oversize_bodies_are_413_before_they_are_read(db: Path, operators: list[Operator]) -> None:
    app = create_pick_app(db, NODE, operators, station=STATION, max_body_bytes=1024)
    chunks_read: list[int] = []

    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with await _client(app) as http:
            declared = await http.post(
                LOGIN, content=b"x" * 5000, headers={"content-type": "application/json"}
            )

            async def stream() -> AsyncIterator[bytes]:
                for _ in range(100):
                    chunks_read.append(1)
                    yield b" " * 512

            chunked = await http.post(
                LOGIN, content=stream(), headers={"content-type": "application/json"}
            )
            ok = await http.post(LOGIN, json={"operator": "li.lei", "pin": PINS["li.lei"]})
            return declared, chunked, ok

    declared, chunked, ok = asyncio.run(main())
    for r in (declared, chunked):
        assert r.status_code == 413, r.text
        assert r.json() == {
            "detail": "request body too large: at most 1024 bytes",
            "code": "too_large",
        }
    assert len(chunks_read) < 10  # the rest of the stream was never pulled
    assert ok.status_code == 200
    app.state.store.close()
