"""A request cancelled while its transaction waits to end still ends it (cloud/api/deps.py)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
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
    state = SimpleNamespace(
        sessions=session_factory(engine),
        read_sessions=session_factory(engine),
        writer_lock=None,
        commit_pool=pool,
        ingest=None,
    )
    request: Any = SimpleNamespace(method="POST", app=SimpleNamespace(state=state))

    async def run() -> None:
        deps = _session(request)
        session = await anext(deps)
        session.execute(text("SELECT 1"))  # the transaction holds a connection now
        assert engine.pool.checkedout() == 1
        ending = (
            anext(deps, None)
            if outcome == "commit"
            else deps.athrow(RuntimeError("the handler failed"))
        )
        task = asyncio.ensure_future(ending)
        await asyncio.sleep(0.05)  # waiting for the busy pool
        task.cancel()  # the client went away, or the server shuts down
        with pytest.raises((asyncio.CancelledError, RuntimeError)):
            await task
        gate.set()  # the pool frees up: the queued job must still run
        await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)

    try:
        asyncio.run(run())
    finally:
        gate.set()
        pool.shutdown(wait=True)
    assert engine.pool.checkedout() == 0  # the connection came back: nothing left open
