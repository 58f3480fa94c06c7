"""The ingest workers' partition leases (cloud/sync/partitions.py, docs/sync.md
"Partitions"), on the test database: a lone worker takes all, a second one takes half
over make-before-break, a dead one's partitions go to the living, a stopping one gives
them back at once. The clock is passed in: ticks at chosen times, no sleeping."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from cloud.db.engine import session_factory, transaction
from cloud.sync import partitions
from protocol import topics

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)
ALL = frozenset(range(topics.PARTITIONS))


def _tick(engine: Engine, me: str, at: float) -> frozenset[int]:
    with transaction(session_factory(engine)) as s:
        return partitions.tick(s, me, T0 + timedelta(seconds=at), TTL)


def _owners(engine: Engine) -> Counter[str | None]:
    with transaction(session_factory(engine)) as s:
        return Counter(partitions.holders(s).values())


def test_shares_are_fair_and_agreed() -> None:
    assert partitions.shares(["a"]) == {"a": 64}
    assert partitions.shares(["a", "b"]) == {"a": 32, "b": 32}
    assert partitions.shares(["a", "b", "c"]) == {"a": 22, "b": 21, "c": 21}


def test_a_lone_worker_takes_every_partition_at_its_first_tick(engine: Engine) -> None:
    assert _tick(engine, "a", 0) == ALL
    assert _tick(engine, "a", 1) == ALL  # renewed, not given away
    assert _owners(engine) == Counter({"a": 64})


def test_a_second_worker_takes_half_over_make_before_break(engine: Engine) -> None:
    _tick(engine, "a", 0)
    b1 = _tick(engine, "b", 0.5)
    # b is taking half: it subscribes to them now, a still owns and keeps them.
    assert len(b1) == 32
    a1 = _tick(engine, "a", 1)
    assert a1 == ALL, "a gives nothing up before b is the owner"
    b2 = _tick(engine, "b", 1.5)  # b subscribed since its last tick: the owner now
    assert b2 == b1
    assert _owners(engine) == Counter({"a": 32, "b": 32})
    a2 = _tick(engine, "a", 2)
    assert a2 == ALL - b2, "a unsubscribes only now, after b became the owner"
    # At every step above, every partition had a subscriber: a1 and a2 | b2 cover all.
    assert a2 | b2 == ALL
    # Stable: further ticks change nothing.
    assert (_tick(engine, "a", 3), _tick(engine, "b", 3.5)) == (a2, b2)


def test_a_dead_workers_partitions_go_to_the_living(engine: Engine) -> None:
    _tick(engine, "a", 0)
    _tick(engine, "b", 0.5)
    _tick(engine, "a", 1)
    b = _tick(engine, "b", 1.5)
    a = _tick(engine, "a", 2)
    assert len(a) == len(b) == 32
    # a stops ticking (killed: nothing given back). Within its lease b keeps its half...
    assert _tick(engine, "b", 6.5) == b
    # ...and once a's lease has run out, b takes everything, straight away (a is gone,
    # nobody else is subscribed to what it held: no make-before-break to wait for).
    assert _tick(engine, "b", 7.5) == ALL
    assert _owners(engine) == Counter({"b": 64})
    # a comes back (same id: a restarted hub): it gets its share again, taken over.
    assert len(_tick(engine, "a", 8)) == 32


def test_a_stopping_worker_gives_its_partitions_back_at_once(engine: Engine) -> None:
    _tick(engine, "a", 0)
    _tick(engine, "b", 0.5)
    _tick(engine, "a", 1)
    _tick(engine, "b", 1.5)
    with transaction(session_factory(engine)) as s:
        partitions.release(s, "a")
    assert _tick(engine, "b", 2) == ALL, "not after the lease: now"


def test_three_workers_settle_on_22_21_21(engine: Engine) -> None:
    at = 0.0
    for _ in range(4):
        for w in ("a", "b", "c"):
            _tick(engine, w, at)
            at += 0.3
    held = {w: _tick(engine, w, at + i * 0.1) for i, w in enumerate(("a", "b", "c"))}
    assert sorted(len(h) for h in held.values()) == [21, 21, 22]
    assert held["a"] | held["b"] | held["c"] == ALL
    assert not (held["a"] & held["b"] or held["a"] & held["c"] or held["b"] & held["c"])
