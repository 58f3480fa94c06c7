"""Which hub ingest worker takes which partition of the nodes' events (docs/sync.md,
"Partitions"; issue 20).

Each node publishes its batches on ``…/events/{p}``, ``p`` derived from its id
(protocol/topics.py ``partition_of``). Every ingest worker runs :func:`tick` about once a
second: it says it is alive, takes its fair share of the partitions, and subscribes to the
ones it holds. So all batches of one node reach one worker, in order, and the workers'
groups touch disjoint nodes: with a plain shared subscription the broker hands a node's
consecutive batches to any worker, each sees gaps and asks for resends, and two hubs spent
157 µs per event against one hub's 92.5 (docs/benchmarks.md, "S32 quiet runs").

The rules, all in one transaction per tick, one tick at a time over all workers (a
PostgreSQL advisory lock; SQLite's writers queue anyway):

* a worker is alive while it ticked within the lease time (``ttl``); the partitions are
  shared out among the live workers, sorted by id: ``P // W`` each and one more for the
  first ``P % W``;
* a free partition (no owner, or its owner's lease ran out, or its owner is gone) is
  claimed straight away by a worker below its share;
* a partition of a worker above its share is *taken over*, make before break: the taker is
  written down and subscribes after the commit; at its next tick (a SUBACK later) it becomes
  the owner; the old owner unsubscribes at its own next tick, when it sees it no longer
  owns it. For up to a tick both are subscribed and both receive the partition's batches:
  each applies them in order under the node's row lock, and what the other applied first
  is a duplicate, acked and not stored again (cloud/sync/ingest.py). Never is a partition
  without a subscriber, which would drop its batches at the broker until the nodes' resend
  timeout (clean sessions keep nothing for a topic nobody subscribes to).

Nothing here is needed for correctness: a batch on any worker is applied exactly once and
in order per node (the node's row lock, the (node, seq) key, the gap answer). The leases
only make each node's batches go to one worker, which is what makes two workers faster
than one.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cloud.db.ingest_leases import IngestPartition, IngestWorkerRow
from protocol import topics

#: PostgreSQL advisory lock held by a tick ("guanjiap"): ticks of all workers one at a time.
LEASE_LOCK = 0x6775616E6A696170


def shares(live: list[str], partitions: int = topics.PARTITIONS) -> dict[str, int]:
    """Each live worker's fair number of partitions (sorted by id: every worker computes
    the same answer)."""
    n = len(live)
    return {w: partitions // n + (1 if i < partitions % n else 0) for i, w in enumerate(live)}


def tick(
    s: Session, me: str, now: datetime, ttl: timedelta, partitions: int = topics.PARTITIONS
) -> frozenset[int]:
    """One tick of worker ``me``: renew, claim, take over (see the module's rules). Returns
    the partitions it must be subscribed to now: those it owns and those it is taking."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(LEASE_LOCK)))
    worker = s.get(IngestWorkerRow, me)
    if worker is None:
        s.add(IngestWorkerRow(worker=me, seen_at=now))
    else:
        worker.seen_at = now
    s.execute(delete(IngestWorkerRow).where(IngestWorkerRow.seen_at < now - ttl))
    s.flush()
    live = sorted(s.scalars(select(IngestWorkerRow.worker)))
    alive = set(live)
    rows = {r.partition: r for r in s.scalars(select(IngestPartition))}
    for p in range(partitions):
        if p not in rows:  # made by the first worker that needs them
            rows[p] = IngestPartition(partition=p)
            s.add(rows[p])
    for r in rows.values():
        if r.taker is not None and r.taker not in alive:
            r.taker = None  # the taker died before it became the owner
        if r.owner not in (None, me) and (
            r.owner not in alive or r.lease_until is None or r.lease_until < now
        ):
            r.owner = r.lease_until = None  # its worker stopped ticking: free
        if r.taker == me:
            # Subscribed since the last tick (the worker subscribes after each tick's
            # commit, SUBACK awaited): now the owner; the old one unsubscribes on seeing it.
            r.owner, r.taker = me, None
        if r.owner == me:
            r.lease_until = now + ttl
    fair = shares(live, partitions)
    holding = Counter(r.taker or r.owner for r in rows.values() if r.taker or r.owner)
    need = fair[me] - holding[me]
    for r in sorted(rows.values(), key=lambda r: r.partition):
        if need <= 0:
            break
        if r.owner is None and r.taker is None:
            r.owner, r.lease_until = me, now + ttl
            holding[me] += 1
            need -= 1
    # From the workers above their share, the highest partitions first.
    for r in sorted(rows.values(), key=lambda r: -r.partition):
        if need <= 0:
            break
        owner = r.owner
        if r.taker is None and owner not in (None, me) and holding[owner] > fair.get(owner, 0):
            r.taker = me
            holding[owner] -= 1
            holding[me] += 1
            need -= 1
    return frozenset(p for p, r in rows.items() if me in (r.owner, r.taker))


def release(s: Session, me: str) -> None:
    """A worker stopping: its partitions free at once instead of after the lease time."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(LEASE_LOCK)))
    s.execute(
        update(IngestPartition)
        .where(IngestPartition.owner == me)
        .values(owner=None, lease_until=None)
    )
    s.execute(update(IngestPartition).where(IngestPartition.taker == me).values(taker=None))
    s.execute(delete(IngestWorkerRow).where(IngestWorkerRow.worker == me))


def holders(s: Session) -> dict[int, str | None]:
    """Partition -> its owner (for ``event-stats`` and tests)."""
    return {r.partition: r.owner for r in s.scalars(select(IngestPartition))}
