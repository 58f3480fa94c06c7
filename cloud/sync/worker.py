"""The MQTT side of ingest: receive batches, apply them, publish acks and downlink.

Database work runs in a worker thread (``asyncio.to_thread``) so the MQTT
loop keeps its keepalives while a transaction commits. An ack is published
only after the transaction that it reports has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.db.engine import transaction
from cloud.nodes import downlink
from cloud.settings import Settings
from cloud.sync import ingest, mqtt_io, partitions, presence
from cloud.sync.group import Group, ack_topic
from protocol import codec, topics
from protocol.backoff import Backoff
from protocol.messages import Ack, HubState, NodeState

log = logging.getLogger("guanjia.cloud.ingest")

#: How often the loop looks for the previous group's end while it decodes the next one:
#: a group's apply takes 10-130 ms at 2,000 nodes (docs/benchmarks.md, Fan-in).
DECODE_POLL_S = 0.002
#: Messages decoded between two turns of the loop while a group is applied (~40 µs each):
#: the socket is read and acks are written meanwhile, not after a whole group's decode.
DECODE_PIECE = 100
#: QoS 1 publishes (acks, downlink) the hub has awaiting the broker's PUBACK at once: 0 is
#: no limit (paho). With a limit, paho walks every message it holds on every PUBACK to find
#: the next one to send (``Client._update_inflight``): with a group's ~1,000 acks out at
#: once that walk was 15 % of the hub's CPU at 2,000 nodes (py-spy, issue 20). Memory is
#: the same either way (paho keeps each publish until its PUBACK, sent or not), and what the
#: broker does not confirm in ``mqtt_puback_timeout_s`` ends the session (:meth:`_liveness`).
INFLIGHT_MAX = 0


def _bytes(payload: object) -> bytes:
    return payload if isinstance(payload, bytes) else b""


def _name(message: Any) -> str:
    """A received message's topic name. The queue holds paho's messages (cloud/sync/mqtt_io.py
    ``direct_messages``), whose topic is decoded on reading: a name that is not UTF-8 (which
    the broker should have refused, MQTT 3.1.1 §1.5.3) becomes one the group rejects."""
    try:
        return str(message.topic)
    except UnicodeDecodeError:
        return "(a topic name that is not UTF-8)"


@dataclass
class IngestStats:
    batches: int = 0
    events: int = 0
    duplicates: int = 0
    gaps: int = 0
    parked: int = 0
    failed: int = 0
    #: Batches the database refused for their content, applied again with those events parked.
    refused: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    connected: bool = False
    #: Connections made to the broker (the first, and every reconnect).
    sessions: int = 0
    #: Partitions of the nodes' events this worker is subscribed to (cloud/sync/partitions.py).
    partitions: frozenset[int] = frozenset()


#: How long a cancelled session may take to say goodbye (aiomqtt waits up to its 10 s
#: timeout for the broker to close the connection after our DISCONNECT).
SESSION_EXIT_S = 12.0


async def run_apart(session: Coroutine[Any, Any, None]) -> None:
    """Run one connection's session in a task of its own and wait for it; a cancel of the
    caller is always raised in the caller, whatever the session makes of it.

    Inline, a cancel could come out of the session as an MqttError — aiomqtt's
    ``Client.__aexit__`` raises ``MqttError("Operation timed out")`` when the broker does not
    close after our DISCONNECT, and a TaskGroup cancelled as a child fails raises the
    child's error (asyncio docs, "Task Groups") — which the reconnect loop took for a lost
    link, reconnecting for ever (issue 19). The edge's sync agent has the same helper:
    edge and cloud share only protocol, which does no I/O.
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


class IngestWorker:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stats = IngestStats()
        self._client: aiomqtt.Client | None = None
        self._pushes: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        #: This connection's QoS 1 publishes not yet known to be confirmed, oldest first
        #: (hand-over time, paho's message info): see :meth:`_send` and :meth:`_liveness`.
        self._unconfirmed: deque[tuple[float, mqtt.MQTTMessageInfo]] = deque()
        #: Set when a publish of this connection failed: the session ends on it.
        self._dead: asyncio.Event | None = None
        #: The loop ``run`` runs on (pushes from other threads are handed to it).
        self._loop: asyncio.AbstractEventLoop | None = None

    def push_downlink(self, after: dict[str, int]) -> None:
        """Send nodes their downlink after the given seqs now (called after the API's commit).

        A node that misses the push gets the same changes at its next pull. Safe from any
        thread: the channel scheduler's and the import jobs' threads call it too, and an
        asyncio queue is not thread-safe (a put from another thread may never wake the
        sender), so from those it is handed to the worker's loop.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._queue_pushes, dict(after))
                return
        self._queue_pushes(after)

    def _queue_pushes(self, after: dict[str, int]) -> None:
        for node, seq in after.items():
            self._pushes.put_nowait((node, seq))

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The edge's sync agent reconnects on the same schedule (protocol/backoff.py).
        backoff = Backoff(random.random, base=0.2, cap=10.0)
        down_since: float | None = None
        host, port = self.settings.mqtt_host, self.settings.mqtt_port

        async def connected() -> None:
            nonlocal down_since
            async with self._connect() as client:
                self._client = client
                self.stats.sessions += 1
                if down_since is not None:
                    log.info(
                        "broker %s:%s reachable again after %.1f s",
                        host,
                        port,
                        time.monotonic() - down_since,
                    )
                    down_since = None
                backoff.reset()
                await self._session(client)

        try:
            while True:
                try:
                    # In a task of its own, so that a cancel stops the worker even when it
                    # comes out of the session as an MqttError (issue 19; see run_apart).
                    await run_apart(connected())
                # aiomqtt errors arrive bare (connect) or grouped (from the session's TaskGroup).
                except* aiomqtt.MqttError as group:
                    if down_since is None:  # the first failure is logged, not every retry
                        log.warning("broker %s:%s: %s", host, port, group.exceptions[0])
                        down_since = time.monotonic()
                except* Exception:
                    # A bug handling one message must not stop ingest for good: log, reconnect.
                    log.exception("ingest session failed; reconnecting")
                    down_since = down_since or time.monotonic()
                finally:
                    self._client = None
                    self.stats.connected = False
                    self.stats.partitions = frozenset()  # a new session subscribes afresh
                    # On a dead connection: what it did not confirm, the nodes will ask again.
                    self._unconfirmed = deque()
                # Full jitter, so hub workers do not reconnect in step.
                await asyncio.sleep(backoff.next_delay())
        finally:
            # Stopping: the partitions go to the other workers now, not after the lease.
            # Blocking, briefly: the loop is on its way out and a cancel may come again.
            self._release_partitions()

    def _release_partitions(self) -> None:
        try:
            with transaction(self.sessions) as s:
                partitions.release(s, self.settings.mqtt_client_id)
        except Exception:
            log.warning(
                "could not give back the partitions; they free in %g s",
                self.settings.ingest_lease_s,
                exc_info=True,
            )

    def _connect(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            topics.HUB_STATE, codec.encode(HubState(online=False)), qos=1, retain=True
        )
        client = aiomqtt.Client(
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            identifier=self.settings.mqtt_client_id,
            username=self.settings.mqtt_username,
            password=self.settings.mqtt_password,
            will=will,
            clean_session=True,
            keepalive=self.settings.mqtt_keepalive_s,
            # How long subscribe and publish wait for SUBACK and PUBACK (see _sent).
            timeout=self.settings.mqtt_puback_timeout_s,
            # paho keeps 20 QoS 1 publishes in flight by default and queues the rest behind
            # broker round trips: a group's acks go to hundreds of nodes at once. No limit
            # (see INFLIGHT_MAX).
            max_inflight_messages=INFLIGHT_MAX,
        )
        # Its socket read 64 KiB at a time, not three reads a packet; the PUBACKs of its
        # acks read as their ids; its packets sent together; what it receives queued as
        # paho reads it (cloud/sync/mqtt_io.py).
        mqtt_io.lean(client)
        return client

    async def _session(self, client: aiomqtt.Client) -> None:
        group = self.settings.ingest_share_group
        # This worker's partitions first, so that a lone worker takes every node's events
        # from its first message on (cloud/sync/partitions.py).
        await self._lease_or_log(client)
        # Nodes from before partitions publish on the unpartitioned topic: shared, with the
        # gap answer when their consecutive batches reach different workers.
        await client.subscribe(topics.subscription(topics.Channel.EVENTS, group), qos=1)
        await client.subscribe(topics.subscription(topics.Channel.PULL, group), qos=1)
        await client.subscribe(topics.subscription(topics.Channel.STATE), qos=1)
        await client.publish(
            topics.HUB_STATE, codec.encode(HubState(online=True)), qos=1, retain=True
        )
        # Connected once subscribed: the partitions' lease tick (a transaction) comes first,
        # and a message published before a subscription exists is dropped by the broker.
        self.stats.connected = True
        # aiomqtt awaits SUBACK and PUBACK with asyncio.wait_for, which on Python 3.11 loses
        # a cancel that arrives with the acknowledgement (CPython gh-86296): the session would
        # go on into its message loop, cancel spent. Task.cancelling() still counts it.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        self._dead = asyncio.Event()
        self._unconfirmed = deque()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._sender(client))
            tg.create_task(self._liveness(self._dead, self._unconfirmed))
            tg.create_task(self._leases(client))
            await self._ingest(client)

    async def _leases(self, client: aiomqtt.Client) -> None:
        """Tick the partition leases for the session's life (cloud/sync/partitions.py)."""
        while True:
            await asyncio.sleep(self.settings.ingest_lease_tick_s)
            await self._lease_or_log(client)

    async def _lease_or_log(self, client: aiomqtt.Client) -> None:
        try:
            await self._lease(client)
        except aiomqtt.MqttError:
            raise  # the link: the session reconnects
        except Exception:
            # The database, for a while: keep what is subscribed (nothing, at a session's
            # start: the next tick tries again). If it lasts beyond the lease, others take
            # the partitions over and both receive them (harmless: each batch applies once
            # under the node's lock); the next tick unsubscribes.
            log.warning("partition lease tick failed", exc_info=True)

    async def _lease(self, client: aiomqtt.Client) -> None:
        """One lease tick, then the subscriptions to match it: new partitions subscribed
        (SUBACK awaited) before the next tick makes this worker their owner, and those no
        longer held unsubscribed only after their new owner has subscribed."""
        me = self.settings.mqtt_client_id
        ttl = timedelta(seconds=self.settings.ingest_lease_s)

        def work() -> frozenset[int]:
            with transaction(self.sessions) as s:
                return partitions.tick(s, me, datetime.now(UTC), ttl)

        hold = await asyncio.to_thread(work)
        had = self.stats.partitions
        if new := sorted(hold - had):
            await client.subscribe([(topics.partition_subscription(p), 1) for p in new])
        if gone := sorted(had - hold):
            await client.unsubscribe([topics.partition_subscription(p) for p in gone])
        if new or gone:
            log.info("ingest %s: %d partitions (+%d -%d)", me, len(hold), len(new), len(gone))
        self.stats.partitions = hold

    async def _ingest(self, client: aiomqtt.Client) -> None:
        """Take messages in groups and apply each group while the next one is decoded.

        A group is what has arrived by the time the database is free (group commit: the
        batches of hundreds of nodes share one transaction). Decoding is this loop's work
        and applying the database thread's, so while group N is applied the messages that
        arrive are decoded into group N+1, which goes to the database the moment N is
        committed and acked: at 2,000 nodes × 5 events/s one group at a time left a
        standing queue of ~3 s (issue 20). The database steps stay one at a time, in
        arrival order, so per node facts apply in order and exactly once, and a group's
        acks are handed to the client before the next group is applied.

        Messages already queued are taken straight from aiomqtt's queue: its iterator
        makes a task and an ``asyncio.wait`` per message, only worth paying to wait.
        """
        messages = client.messages
        applying: asyncio.Task[None] | None = None
        try:
            while True:
                taken = Group()
                if applying is None:
                    first = await anext(messages)  # idle: wait for the next message
                    taken.add(_name(first), _bytes(first.payload))
                queue = client._queue  # aiomqtt's own message queue (see above)
                while True:
                    # With the database free, all that is queued; while it is busy, a piece.
                    busy = applying is not None and not applying.done()
                    piece = 0
                    while queue.qsize() and not taken.full() and (piece < DECODE_PIECE or not busy):
                        m = queue.get_nowait()
                        taken.add(_name(m), _bytes(m.payload))
                        piece += 1
                    if applying is None or applying.done() or taken.full():
                        break
                    if piece >= DECODE_PIECE:
                        # Let the loop read the socket and write the acks between pieces.
                        await asyncio.sleep(0)
                        continue
                    # Decode what arrives while the previous group is being applied.
                    await asyncio.wait({applying}, timeout=DECODE_POLL_S)
                if applying is not None:
                    await applying  # committed and acked (its error ends the session)
                    applying = None
                if taken:
                    applying = asyncio.create_task(self._apply_group(client, taken))
        finally:
            if applying is not None:
                # What it committed and did not ack, the nodes resend: duplicates are ignored.
                applying.cancel()
                await asyncio.wait({applying})

    async def handle_many(self, client: aiomqtt.Client, messages: list[tuple[str, bytes]]) -> None:
        """Handle messages as one group, in arrival order (see :meth:`_ingest`)."""
        taken = Group()
        for name, payload in messages:
            taken.add(name, payload)
        await self._apply_group(client, taken)

    async def _apply_group(self, client: aiomqtt.Client, taken: Group) -> None:
        """Apply a decoded group: bad messages recorded, hellos answered, then event
        batches (one transaction, acks after its commit), then statuses."""
        for r in taken.rejections:
            await self._reject(r.topic, r.node, r.reason, r.size)
        if taken.pulls:
            # Hellos of the group are answered from one transaction (hundreds of nodes
            # say hello at once when the hub comes back; one at a time, they held up
            # every event behind them for seconds).
            await self._answer_pulls(client, taken.pulls)
        if taken.batches:
            await self._on_batches(client, taken.batches)
        if taken.states:
            # Statuses of the group are recorded together, the newest of each node: one
            # transaction instead of one per message (hundreds of nodes report).
            await asyncio.to_thread(self._presence, *taken.states.values())

    async def _liveness(
        self, dead: asyncio.Event, unconfirmed: deque[tuple[float, mqtt.MQTTMessageInfo]]
    ) -> None:
        """End the session when one of its publishes failed or went unconfirmed for
        ``mqtt_puback_timeout_s`` (see :meth:`_send`).

        The link can die without the client noticing: the broker was killed while a publish
        was being handed to the socket, and from then on nothing was read or written on it,
        no disconnect was reported and the message loop waited for good. A hub saw no
        message for minutes while nodes queued (issue 19: the broker-restart wedge, node at
        seq 510, hub acked 396, 70 s without progress; its only trace was publishes timing
        out). An unconfirmed publish is the one sign it gives; the keep-alive is the bound
        when the hub has nothing to publish.
        """
        limit = self.settings.mqtt_puback_timeout_s
        tick = min(1.0, limit / 4)
        while not dead.is_set():
            # The oldest publish not yet confirmed: PUBACKs come back in order, so the
            # confirmed ones at the head go and the first one left is the oldest waiting.
            while unconfirmed and unconfirmed[0][1].is_published():
                unconfirmed.popleft()
            if unconfirmed and time.monotonic() - unconfirmed[0][0] > limit:
                log.warning("publish not confirmed by the broker within %g s", limit)
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dead.wait(), tick)
        raise aiomqtt.MqttError(
            f"the broker confirmed no publish within {self.settings.mqtt_puback_timeout_s:g} s:"
            " the connection is taken for dead"
        )

    async def _sender(self, client: aiomqtt.Client) -> None:
        while True:
            node, after = await self._pushes.get()
            await self._answer_pulls(client, {node: after}, with_ack=False)

    async def _on_batches(
        self, client: aiomqtt.Client, batches: dict[str, list[codec.Batch]]
    ) -> None:
        """Apply the batches of every node in one transaction (group commit: one fsync for
        all), then publish one cumulative ack per node. Nodes are independent: per node the
        batches apply in arrival order, exactly as if each came alone."""
        now = datetime.now(UTC)
        skew = self.settings.clock_skew_flag_s

        def apply(items: dict[str, list[codec.Batch]]) -> dict[str, list[ingest.ApplyResult]]:
            start = time.perf_counter()
            with transaction(self.sessions) as s:
                out = ingest.apply_batches(s, items, now, skew)
            # Counted once committed: what is applied is what the acks will say.
            metrics.INGEST_APPLY.observe(time.perf_counter() - start)
            batches = sum(len(b) for b in items.values())
            metrics.INGEST_GROUP.observe(batches)
            metrics.INGEST_BATCHES.inc(batches)
            metrics.INGEST_EVENTS.inc(sum(r.applied for rs in out.values() for r in rs))
            # Facts may have moved stock: nodes get the new bin figures after the commit.
            queued.update(downlink.pushes_of(s))
            return out

        def alone(node: str, node_batches: list[codec.Batch]) -> list[ingest.ApplyResult]:
            """One node's batches in a transaction of their own; what the database refuses
            for their content is parked (first the events it names, then all), so that a
            poison batch is acked and not resent for ever (issue 19, finding 1)."""
            try:
                return apply({node: node_batches})[node]
            except ingest.REFUSED as err:
                error: Exception = err
            for everything in (False, True):
                with transaction(self.sessions) as s:
                    marked = ingest.refused(s, node_batches, error, everything=everything)
                try:
                    results = apply({node: marked})[node]
                except ingest.REFUSED as err:
                    error = err
                    continue
                self.stats.refused += 1
                log.warning("node %s: the database refused events of its batch: parked", node)
                return results
            raise error

        def work() -> dict[str, list[ingest.ApplyResult]]:
            try:
                return apply(batches)
            except ingest.REFUSED:
                pass  # the content of some node's batch: isolate it, even a node alone
            except Exception:
                if len(batches) == 1:
                    raise  # the database itself is failing: the session reconnects
            # One node's batch failed the shared transaction: isolate it, so the others go on.
            out: dict[str, list[ingest.ApplyResult]] = {}
            for node, node_batches in batches.items():
                try:
                    out[node] = alone(node, node_batches)
                except Exception:
                    self.stats.failed += 1
                    log.exception(
                        "node %s: applying its batch failed; not acked, it will be resent", node
                    )
            return out

        queued: dict[str, int] = {}
        outcome = await asyncio.to_thread(work)
        self.push_downlink(queued)  # on the loop: the push queue is not thread-safe
        for node, results in outcome.items():
            ack = codec.encode(self._account(node, batches[node], results))
            self._send(client, ack_topic(node), ack)

    def _send(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        """Publish an ack or a downlink batch (QoS 1) without waiting for the broker's PUBACK.

        The next group is applied meanwhile instead of after a broker round trip (longer
        where the broker runs on another machine). Handed to paho here, in call order, so a
        node's messages keep their order. One the broker never confirms is not lost for
        good: acks are cumulative, a node that sees no progress resends and asks again when
        it reconnects, and a node that misses a downlink batch pulls it at its next gap.
        But it ends the session (:meth:`_liveness`), so that ingest connects again instead
        of waiting on a link that may be dead.

        Straight to the paho client aiomqtt wraps, not through ``aiomqtt.Client.publish``:
        that one costs a task, an event and a timer per message, and looks through every
        pending publish twice (a list of up to 1,000 ids built per call) and logs a warning
        once more than ten are pending, as they always are here: 127–131 µs of CPU per
        ack against 52–55 µs straight to paho, PUBACK included (``python -m
        cloud.bench.ack_publish``, docs/benchmarks.md; issue 20, the hub's CPU per event).
        Confirmation is read from paho's message info instead, by :meth:`_liveness`.
        """
        # aiomqtt's own paho client (see above).
        info = client._client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish refused by the client: %s", mqtt.error_string(info.rc))
            if self._dead is not None:
                self._dead.set()
            return
        self._unconfirmed.append((time.monotonic(), info))

    def _account(
        self, node: str, batches: list[codec.Batch], results: list[ingest.ApplyResult]
    ) -> Ack:
        """Count what one node's batches did and build its cumulative ack."""
        st = self.stats
        st.batches += len(batches)
        final = results[-1]
        parked = sorted({seq for r in results for seq in r.parked})
        for r in results:
            st.events += r.applied
            st.duplicates += r.duplicates
        st.parked += len(parked)
        # A batch that arrived ahead of its predecessor was not applied: ask for the rest at once.
        resend_from = (
            final.acked_through + 1
            if any(b.last_seq > final.acked_through for b in batches)
            else None
        )
        if resend_from is not None:
            st.gaps += 1
            log.info(
                "node %s: gap after seq %d, asking to resend from %d",
                node,
                final.acked_through,
                resend_from,
            )
        if parked:
            log.error("node %s: parked malformed events %s for review", node, parked)
        return Ack(
            node=node, acked_through=final.acked_through, resend_from=resend_from, parked=parked
        )

    async def _answer_pulls(
        self, client: aiomqtt.Client, pulls: dict[str, int], with_ack: bool = True
    ) -> None:
        """Each node's current ack and the downlink it has not applied, for several nodes
        from one transaction (nodes locked in id order, as the batches lock them)."""
        now = datetime.now(UTC)

        def work() -> list[tuple[str, bytes, bytes | None]]:
            with transaction(self.sessions) as s:
                answers = ingest.hellos(s, pulls, now)
            return [
                (node, codec.encode(ack), codec.encode(down) if down.changes else None)
                for node, (ack, down) in answers.items()
            ]

        # Not awaited one by one (a broker round trip each, for hundreds of nodes at a
        # site's start): handed to the client in order, so a node's ack precedes its downlink.
        for node, ack_bytes, down_bytes in await asyncio.to_thread(work):
            if with_ack:
                self._send(client, topics.topic(node, topics.Channel.ACK), ack_bytes)
            if down_bytes:
                self._send(client, topics.topic(node, topics.Channel.DOWN), down_bytes)

    def _presence(self, *states: NodeState, now: datetime | None = None) -> None:
        """Record the group's statuses on their nodes (cloud/sync/presence.py), with the
        nodes' history (cloud/nodes/history.py): one sample a minute at most."""
        retention = timedelta(days=self.settings.node_sample_retention_days)
        with transaction(self.sessions) as s:
            presence.record(s, states, now or datetime.now(UTC), retention)

    async def _reject(self, name: str, node: str | None, reason: str, size: int) -> None:
        self.stats.rejected[reason.split(":")[0]] += 1
        log.warning("rejected message on %s from node %s: %s", name, node or "?", reason)

        def work() -> None:
            with transaction(self.sessions) as s:
                ingest.record_rejection(s, name, node, reason, size)

        await asyncio.to_thread(work)
