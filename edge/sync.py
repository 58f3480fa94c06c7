"""The edge's sync agent: drain the outbox upstream, apply the downlink.

Upstream (docs/sync.md): batches leave in seq order, bounded in events and
bytes, with up to ``window`` batches awaiting the cloud's cumulative ack. Only
that ack (``acked_through``) marks events delivered; a broker PUBACK means
only that the broker took the message. On every (re)connect the agent sends a
``pull`` hello and waits for the cloud's ack before sending, so it resumes from
the cloud's ``acked_through``, not from its own memory. If no ack progress
comes within ``retry_interval_s`` it goes back to ``acked_through + 1``
(go-back-N); the cloud's idempotence on (node, seq) makes resends harmless.

Downstream: changes arrive with the node's own downlink sequence and are
applied atomically with the ``down_applied`` cursor; a gap or a reconnect
sends a ``pull`` for what is missing.

Triggers: a local write (:meth:`SyncAgent.kick`), a reconnect, and the retry
timer; nothing can switch a direction off for good. A watchdog, a task of its own
that runs whether the link is up or not, raises an alarm (logged once, published in
the node's retained status as soon as it can be) when events wait and no ack
progress came for twice the retry interval, or when the link has been down for
longer than ``link_alarm_s``; it clears when a session is up and progressing again
(issue 19, finding 3: a 150 s partition raised no alarm while the watchdog ran only
inside a session). Its clock is injectable (``clock``) so tests move time.

Delivered outbox rows are pruned in small batches after acks move.

A store that cannot record what arrives (a full or read-only disk: an ack, a
downlink batch) ends the session, and the agent reconnects after a capped,
jittered delay that grows while the fault lasts (protocol/backoff.py), instead of
reconnecting at once into the same failure; the first ack recorded resets it. The
node's status carries the store's fault as its alarm (issue 19, finding 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiomqtt

from edge.config import MqttSection, SyncSection
from edge.devices.base import reconnect_backoff
from edge.ops import metrics
from edge.store.store import Store, StoreError, storage_fault
from protocol import codec, topics
from protocol.backoff import Backoff
from protocol.errors import RemoteProtocolError
from protocol.messages import Ack, DeviceStatus, DownBatch, HubState, NodeState, Pull

log = logging.getLogger("guanjia.edge.sync")

POLL_S = 0.5
#: Reconnect delays while the store cannot record an ack: from 0.5 s up to 30 s, jittered.
STORE_FAULT_BACKOFF = (0.5, 30.0)


class StoreFault(Exception):
    """The store could not record what the cloud sent (the disk, not the message)."""


@dataclass
class SyncStatus:
    connected: bool = False
    hub_online: bool = False
    acked_through: int = 0
    sent_batches: int = 0
    resends: int = 0
    rejected_downlink: int = 0
    alarm: str | None = None
    last_progress: float = 0.0
    #: Sessions ended because the store could not record what arrived.
    store_faults: int = 0


#: How long a cancelled session may take to say goodbye (aiomqtt waits up to its 10 s
#: timeout for the broker to close the connection after our DISCONNECT).
SESSION_EXIT_S = 12.0


def stop_if_cancelled() -> None:
    """Raise CancelledError if the running task was asked to stop and the request got lost.

    Called after each aiomqtt publish and subscribe. aiomqtt awaits the broker's PUBACK or
    SUBACK with ``asyncio.wait_for``, which on Python 3.11 returns the result, swallowing
    the cancel, when the cancel arrives as the acknowledgement does (CPython gh-86296, fixed
    in 3.12). The drain loop then went on for ever and the session's TaskGroup, the agent
    and a daemon's shutdown waited for it: the watchdog test's teardown hang (issue 19).
    ``Task.cancelling()`` still counts the lost request. Only for tasks that never own a
    TaskGroup whose child failed (3.11 leaves the group's own request counted on its
    parent): the session's child tasks, and the session before its TaskGroup.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def run_apart(session: Coroutine[Any, Any, None]) -> None:
    """Run one connection's session in a task of its own and wait for it; a cancel of the
    caller is always raised in the caller, whatever the session makes of it.

    A reconnect loop whose session runs inline cannot tell a cancel from a lost link: the
    cancel can come out of the session dressed as an MqttError — aiomqtt's
    ``Client.__aexit__`` raises ``MqttError("Operation timed out")`` when the broker does not
    close the connection after our DISCONNECT, replacing the CancelledError, and a
    TaskGroup cancelled as a child fails raises the child's error, not the cancel (asyncio
    docs, "Task Groups") — and the loop reconnected for ever: a daemon asked to stop never
    did (the watchdog test's teardown hang, issue 19). ``Task.cancelling()`` cannot tell
    either on Python 3.11, where a TaskGroup whose child failed leaves its own cancel
    request on the parent counted for good.
    """
    task = asyncio.create_task(session)
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task}, timeout=SESSION_EXIT_S)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a lost link on the way out is no news
        raise
    task.result()


class SyncAgent:
    def __init__(
        self,
        store: Store,
        mqtt: MqttSection,
        sync: SyncSection,
        *,
        software: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._clock = clock
        self.node = store.node_id
        self.mqtt = mqtt
        self.cfg = sync
        self.software = software
        self.status = SyncStatus(acked_through=store.acked_through, last_progress=clock())
        self._down_since = clock()  # the link is down until the first session
        self._state_dirty = False  # the watchdog changed the alarm: publish the status
        self._wake = asyncio.Event()
        self._next: int | None = None  # next seq to send; None until the cloud's ack this session
        self._inflight: list[int] = []  # last seq of each batch awaiting the cloud's ack
        #: Last seq of the tail batch in flight (one that took all that was pending), or None.
        self._tail: int | None = None
        self._sent_at = 0.0  # when the oldest batch in flight left (for go-back-N)
        self._topic = {ch: topics.topic(self.node, ch) for ch in topics.Channel}
        #: Called after a downlink batch was applied (a cancel must reach a scanning station).
        self.on_down_applied: Callable[[DownBatch], None] | None = None
        #: The station's device health, published with the node's status.
        self.devices: Callable[[], list[DeviceStatus]] = list
        self._store_backoff = Backoff(random.random, *STORE_FAULT_BACKOFF)

    def kick(self) -> None:
        """A local write happened: drain soon."""
        self._wake.set()

    async def run(self) -> None:
        watch = asyncio.create_task(self._watch(), name="sync watchdog")
        try:
            await self._run()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                changed = self._watchdog()
            except Exception:  # a store that cannot be read says so elsewhere (status, light)
                log.exception("sync watchdog check failed")
                continue
            if changed and self.status.connected:
                self._state_dirty = True
                self._wake.set()

    async def _run(self) -> None:
        backoff = reconnect_backoff(base=0.2, cap=10.0)
        down_since: float | None = None

        async def connected() -> None:
            nonlocal down_since
            async with self._client() as client:
                if down_since is not None:
                    log.info(
                        "uplink to %s:%s restored after %.1f s",
                        self.mqtt.host,
                        self.mqtt.port,
                        self._clock() - down_since,
                    )
                    down_since = None
                backoff.reset()
                await self._session(client)

        while True:
            try:
                await run_apart(connected())
            except* (StoreFault, sqlite3.Error) as group:
                # A store error while sending (a read that fails on a failing disk) or while
                # recording what arrived: back off, growing, rather than reconnect at once.
                first = group.exceptions[0]
                if isinstance(first, sqlite3.Error) and storage_fault(first) is None:
                    log.exception("sync session failed on the store; reconnecting")
                elif self._store_backoff.attempt == 0:  # the first of a fault, not each retry
                    log.error(
                        "sync paused: %s; retrying with backoff (up to %.0f s)",
                        first,
                        self._store_backoff.cap,
                    )
                self.status.store_faults += 1
                await asyncio.sleep(self._store_backoff.next_delay())
            # aiomqtt errors arrive bare (connect) or grouped (from the session's TaskGroup).
            except* aiomqtt.MqttError as group:
                if down_since is None:  # log the first failure, not every retry
                    log.warning(
                        "uplink to %s:%s lost: %s",
                        self.mqtt.host,
                        self.mqtt.port,
                        group.exceptions[0],
                    )
                    down_since = self._clock()
            except* Exception:
                # A bug in a session must not silence sync for good: log it, reconnect.
                log.exception("sync session failed; reconnecting")
                down_since = down_since or self._clock()
            finally:
                if self.status.connected:
                    self._down_since = self._clock()
                self.status.connected = False
                self.status.hub_online = False
                self._next = None
                self._inflight.clear()
                self._tail = None
            await asyncio.sleep(backoff.next_delay())

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self._topic[topics.Channel.STATE],
            codec.encode(NodeState(node=self.node, online=False)),
            qos=1,
            retain=True,
        )
        return aiomqtt.Client(
            self.mqtt.host,
            self.mqtt.port,
            identifier=f"edge-{self.node}",
            username=self.mqtt.username,
            password=self.mqtt.password,
            keepalive=self.mqtt.keepalive_s,
            will=will,
            clean_session=True,  # we never rely on the broker's queue (bounded and volatile)
        )

    def node_state(self) -> NodeState:
        store = self.store
        return NodeState(
            node=self.node,
            online=True,
            epoch=store.epoch,
            software=self.software,
            last_seq=store.last_seq,
            acked_through=store.acked_through,
            backlog=store.backlog(),
            oldest_unacked_age_s=store.oldest_unacked_age_s(),
            alarm=self.alarm(),
            devices=self.devices(),
        )

    def alarm(self) -> str | None:
        """What the node's status warns of: the store's fault, then the watchdog's alarm."""
        parts = [a for a in (self.store.fault, self.status.alarm) if a]
        return "; ".join(parts)[:300] or None

    async def _publish_state(self, client: aiomqtt.Client) -> None:
        state = self.node_state()
        for dev in state.devices:
            metrics.set_device(dev.name, dev.kind, dev.connected)
        metrics.set_backlog(
            state.backlog or 0,
            acked_through=state.acked_through or 0,
            last_seq=state.last_seq or 0,
            oldest_unacked_age_s=state.oldest_unacked_age_s,
        )
        await client.publish(
            self._topic[topics.Channel.STATE], codec.encode(state), qos=1, retain=True
        )
        stop_if_cancelled()

    async def _session(self, client: aiomqtt.Client) -> None:
        self.status.connected = True
        self.status.last_progress = self._clock()  # the watchdog counts from the connect
        await self._publish_state(client)
        await client.subscribe(self._topic[topics.Channel.ACK], qos=1)
        await client.subscribe(self._topic[topics.Channel.DOWN], qos=1)
        await client.subscribe(topics.HUB_STATE, qos=1)
        stop_if_cancelled()
        await self._hello(client)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(client))
            tg.create_task(self._drain(client))
            tg.create_task(self._status(client))

    async def _status(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.cfg.status_interval_s)
            await self._publish_state(client)

    def _watchdog(self) -> bool:
        """Raise or clear the no-progress alarm; return True when it changed."""
        now = self._clock()
        backlog = self.store.backlog()
        if backlog == 0:
            self.status.last_progress = now  # nothing waits: nothing can be stuck
        idle = now - self.status.last_progress
        down = None if self.status.connected else now - self._down_since
        link = "" if down is None else f", uplink down for {down:.0f} s"
        alarm = None
        if idle > 2 * self.cfg.retry_interval_s:
            alarm = f"no sync progress for {idle:.0f} s with {backlog} events waiting{link}"
        elif down is not None and down > self.cfg.link_alarm_s:
            alarm = f"uplink to {self.mqtt.host}:{self.mqtt.port} down for {down:.0f} s"
        if alarm is not None and self.status.alarm is None:
            self.status.alarm = alarm
            log.error("ALARM %s", alarm, extra={"alarm": alarm})
            return True
        if alarm is None and self.status.alarm is not None:
            log.info("sync progressing again; alarm cleared")
            self.status.alarm = None
            return True
        return False

    async def _hello(self, client: aiomqtt.Client) -> None:
        """Ask for the cloud's ack and for downlink after our cursor."""
        pull = Pull(node=self.node, after=self.store.down_applied)
        await client.publish(self._topic[topics.Channel.PULL], codec.encode(pull), qos=1)
        stop_if_cancelled()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            payload = msg.payload if isinstance(msg.payload, bytes) else b""
            name = str(msg.topic)
            try:
                if name == topics.HUB_STATE:
                    hub = codec.decode(HubState, payload)
                    was = self.status.hub_online
                    self.status.hub_online = hub.online
                    if hub.online and not was:
                        await self._hello(client)
                    continue
                channel = topics.parse(name).channel
                if channel is topics.Channel.ACK:
                    self._on_ack(codec.decode(Ack, payload))
                elif channel is topics.Channel.DOWN and not await self._on_down(
                    codec.decode(DownBatch, payload)
                ):
                    await self._hello(client)
            except RemoteProtocolError as err:
                self.status.rejected_downlink += 1
                log.warning("rejected message on %s: %s", name, err)
            except sqlite3.Error as err:
                why = storage_fault(err)
                if why is None:
                    raise
                raise StoreFault(f"the store cannot record the {name} message: {why}") from err

    def _on_ack(self, ack: Ack) -> None:
        self.status.hub_online = True  # an ack is proof enough
        if self._next is None and self.store.restore_epoch:
            # First contact after a restore from backup: continue after what the cloud holds.
            moved_rows = self.store.rebase(ack.acked_through)
            log.warning(
                "restored database re-based on the cloud's ack %d (%d events renumbered)",
                ack.acked_through,
                moved_rows,
                extra={"rebased_on": ack.acked_through},
            )
        try:
            moved = self.store.mark_acked(ack.acked_through, prune=self.cfg.prune_batch)
        except StoreError as err:
            # The cloud knows more of this node than the node does (a restored
            # database). Never send over history we no longer hold; say so loudly.
            log.error("refusing ack: %s", err)
            return
        self._store_backoff.reset()  # the store took the ack: a fault is over
        if moved or self._next is None:
            self.status.last_progress = self._clock()
            log.info(
                "acked through %d", ack.acked_through, extra={"acked_through": ack.acked_through}
            )
        self.status.acked_through = self.store.acked_through
        if ack.parked:
            log.error("cloud parked events %s for review", ack.parked, extra={"parked": ack.parked})
        if self._next is None or ack.resend_from is not None:
            # Resume exactly where the cloud is, whatever we sent before.
            self._next = ack.resend_from or ack.acked_through + 1
            if ack.resend_from is not None:
                self.status.resends += 1
            self._inflight.clear()
            self._tail = None
        else:
            self._next = max(self._next, ack.acked_through + 1)
            self._inflight = [s for s in self._inflight if s > ack.acked_through]
        self._wake.set()

    async def _on_down(self, batch: DownBatch) -> bool:
        """Apply a downlink batch; return False when something is missing."""
        before = self.store.down_applied
        applied = self.store.apply_down(batch)
        after = self.store.down_applied
        if applied and self.on_down_applied is not None:
            self.on_down_applied(batch)
        if applied:
            log.info("downlink applied through %d", after, extra={"down_applied": after})
        if batch.after is not None:
            if batch.after > before:
                return False
        elif batch.changes and batch.changes[0].seq > before + 1:
            return False
        return after >= batch.head

    async def _drain(self, client: aiomqtt.Client) -> None:
        topic = self._topic[topics.Channel.EVENTS]
        retry = self.cfg.retry_interval_s
        while True:
            # Woken by a local write; else a short poll, because another writer of this
            # store (the PDA API, a CLI) may have appended without kicking us.
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the inner result
            # when a cancel arrives as the event is set, and the cancel is lost (CPython
            # gh-86296, fixed in 3.12).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(retry, POLL_S)):
                    await self._wake.wait()
            self._wake.clear()
            if self._state_dirty:
                self._state_dirty = False
                await self._publish_state(client)
            if self._next is None:
                await self._hello(client)  # the cloud has not answered yet: ask again
                continue
            stalled = self._clock() - max(self._sent_at, self.status.last_progress) > retry
            if self._inflight and stalled:
                log.info(
                    "no ack progress for %.1f s, resending from %d",
                    retry,
                    self.store.acked_through + 1,
                )
                self._next = self.store.acked_through + 1
                self._inflight.clear()
                self._tail = None
                self.status.resends += 1
            while len(self._inflight) < self.cfg.window:
                rows = self.store.pending(
                    self._next - 1, self.cfg.batch_events, self.cfg.batch_bytes
                )
                if not rows:
                    break
                tail = rows[-1][0] >= self.store.last_seq
                if tail and self._tail is not None and self._tail > self.store.acked_through:
                    # A tail batch waits while another is in flight (Nagle's rule, RFC 896,
                    # with Minshall's refinement: full batches still fill the window). What
                    # is written meanwhile leaves with it as one batch when the ack comes:
                    # sending each scan alone kept `window` one-event batches per node
                    # queued at a busy hub, seconds of lag at 2,000 nodes (issue 20).
                    break
                # The send time, so the hub judges this node's clock by it and not by the
                # age of events queued behind a cut link (issue 19). A wall clock outside
                # what the field holds sends none: the hub then judges each event alone.
                wall = self.store.wall_ms()
                sent_ms = wall if 0 <= wall <= codec.MAX_SENT_MS else None
                await client.publish(
                    topic,
                    codec.encode_batch(self.node, [b for _, b in rows], sent_ms),
                    qos=1,
                )
                stop_if_cancelled()
                if not self._inflight:
                    self._sent_at = self._clock()
                self._inflight.append(rows[-1][0])
                if tail:
                    self._tail = rows[-1][0]
                self._next = rows[-1][0] + 1
                self.status.sent_batches += 1
