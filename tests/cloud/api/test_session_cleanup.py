"""A request cancelled while its transaction waits to end still ends it (cloud/api/deps.py)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, text

from cloud.api.deps import _session
from cloud.db.engine import session_factory


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_cancelled_request_still_ends_its_transaction(engine: Engine, outcome: str) -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    gate = threading.Event()
    pool.submit(gate.wait)  # the commit pool is busy: the request's job must queue

    async def run() -> None:
        lock = asyncio.Lock()  # this process's writers queue here (SQLite)
        state = SimpleNamespace(
            sessions=session_factory(engine),
            read_sessions=session_factory(engine),
            writer_lock=lock,
            commit_pool=pool,
            ingest=None,
        )
        # What FastAPI's request handler puts in the scope around the handler.
        stack = AsyncExitStack()
        request: Any = SimpleNamespace(
            method="POST",
            app=SimpleNamespace(state=state),
            scope={"fastapi_function_astack": stack},
        )
        session = await _session(request)
        assert lock.locked()
        session.execute(text("SELECT 1"))  # the transaction holds a connection now
        assert engine.pool.checkedout() == 1
        failure = RuntimeError("the handler failed")
        ending = (
            stack.__aexit__(None, None, None)
            if outcome == "commit"
            else stack.__aexit__(RuntimeError, failure, None)
        )
        task = asyncio.ensure_future(ending)
        await asyncio.sleep(0.05)  # waiting for the busy pool
        task.cancel()  # the client went away, or the server shuts down
        with pytest.raises(asyncio.CancelledError):
            await task
        # The next writer of this process waits until the transaction has ended.
        assert lock.locked()
        gate.set()  # the pool frees up: the queued job must still run
        await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)
        await asyncio.sleep(0)  # the shielded ending's last step, on the loop
        assert not lock.locked()

    try:
        asyncio.run(run())
    finally:
        gate.set()
        pool.shutdown(wait=True)
    assert engine.pool.checkedout() == 0  # the connection came back: nothing left open


def test_a_route_without_fastapis_exit_stack_gets_no_session(engine: Engine) -> None:
    """A caller that cannot end the transaction (no function-scoped exit stack) is refused
    before one is opened, instead of leaving it open."""
    state = SimpleNamespace(sessions=session_factory(engine), writer_lock=None)
    request: Any = SimpleNamespace(method="POST", app=SimpleNamespace(state=state), scope={})
    with pytest.raises(RuntimeError, match="exit stack"):
        asyncio.run(_session(request))
    assert engine.pool.checkedout() == 0
