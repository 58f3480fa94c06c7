"""A sync daemon asked to stop stops, whatever its MQTT client does on the way out (issue 19).

The watchdog partition test once hung in its teardown: the cancelled agent or worker never
ended. aiomqtt's ``Client.__aexit__`` raises ``MqttError("Operation timed out")`` when the
broker does not close the connection after our DISCONNECT within the client's timeout; that
error replaced the CancelledError, the reconnect loop took it for a lost link and
reconnected for ever. The fake client here does exactly that on every exit, at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from sqlalchemy.orm import sessionmaker

from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from edge.config import MqttSection, SyncSection
from edge.store.store import Store
from edge.sync import SyncAgent
from tests.support import run_bounded


class StuckOnExit:
    """An MQTT client whose session idles and whose exit fails as a timed-out disconnect."""

    def __init__(self, lost_links: int = 0, swallow_after: int | None = None) -> None:
        self.sessions = 0
        self.publishes = 0
        #: From this publish on, publish waits for its PUBACK and, cancelled, returns as if
        #: the PUBACK came with the cancel: what asyncio.wait_for does inside aiomqtt on
        #: Python 3.11 (CPython gh-86296).
        self.swallow_after = swallow_after
        #: Sessions whose message stream fails at once, as when the link drops.
        self.lost_links = lost_links

    async def __aenter__(self) -> StuckOnExit:
        self.sessions += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        raise aiomqtt.MqttError("Operation timed out")

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        self.publishes += 1
        if self.swallow_after is not None and self.publishes > self.swallow_after:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return

    async def subscribe(self, *args: Any, **kwargs: Any) -> None:
        pass

    @property
    def messages(self) -> _Never:
        return _Never(lost=self.sessions <= self.lost_links)


class _Never:
    """A message stream where nothing ever arrives (or the link is lost at once)."""

    def __init__(self, lost: bool) -> None:
        self.lost = lost

    def __len__(self) -> int:
        return 0

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        if self.lost:
            raise aiomqtt.MqttError("Disconnected during message iteration")
        await asyncio.Event().wait()
        raise StopAsyncIteration


async def _cancel_ends_it(run: Any, client: StuckOnExit) -> None:
    task = asyncio.create_task(run())
    want = client.lost_links + 1  # the lost links are reconnected: a lost link is no stop
    for _ in range(1000):
        if client.sessions >= want:
            break
        await asyncio.sleep(0.01)
    assert client.sessions == want
    await asyncio.sleep(0.1)  # in the session, its tasks started
    if client.swallow_after is not None:
        for _ in range(300):  # until a publish waits for its PUBACK
            if client.publishes > client.swallow_after:
                break
            await asyncio.sleep(0.01)
        assert client.publishes > client.swallow_after
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=3)
    assert done, f"the cancelled task did not end ({client.sessions} sessions)"
    assert task.cancelled()
    assert client.sessions == want  # no reconnect after the cancel


@pytest.mark.parametrize("lost_links", [0, 2])
def test_a_cancelled_sync_agent_ends_when_its_client_fails_on_exit(
    tmp_path: Path, lost_links: int
) -> None:
    """With lost links before: on Python 3.11 a TaskGroup whose child failed leaves a
    cancel request counted on its parent, so ``cancelling()`` cannot tell a real stop."""
    store = Store(tmp_path / "edge.db", "n1")
    store.start_epoch("test", "demo")
    agent = SyncAgent(store, MqttSection(port=1), SyncSection(), software="test")
    client = StuckOnExit(lost_links)
    agent._client = lambda: client  # type: ignore[assignment,method-assign,return-value]
    run_bounded(_cancel_ends_it(agent.run, client))


@pytest.mark.parametrize("lost_links", [0, 2])
def test_a_cancelled_ingest_worker_ends_when_its_client_fails_on_exit(lost_links: int) -> None:
    worker = IngestWorker(Settings(mqtt_port=1), sessionmaker())
    client = StuckOnExit(lost_links)
    worker._connect = lambda: client  # type: ignore[assignment,method-assign,return-value]
    run_bounded(_cancel_ends_it(worker.run, client))


def test_a_cancel_lost_in_a_publish_still_stops_the_sync_agent(tmp_path: Path) -> None:
    """The drain's hello (every 0.5 s until the hub answers) is waiting for its PUBACK when
    the cancel comes, and the publish swallows it: the drain must not go on for ever."""
    store = Store(tmp_path / "edge.db", "n1")
    store.start_epoch("test", "demo")
    agent = SyncAgent(store, MqttSection(port=1), SyncSection(), software="test")
    client = StuckOnExit(swallow_after=2)  # the session's status and hello pass
    agent._client = lambda: client  # type: ignore[assignment,method-assign,return-value]
    run_bounded(_cancel_ends_it(agent.run, client))
