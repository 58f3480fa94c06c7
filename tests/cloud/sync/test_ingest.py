"""Applying batches: exactly once per (node, seq), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import orjson
from sqlalchemy import Engine, func, select

from cloud.catalogue import skus as catalogue
from cloud.db.engine import session_factory, transaction
from cloud.db.models import Event, Node, ParkedEvent
from cloud.sync.ingest import apply_batch, hello, hellos
from protocol import codec
from protocol.hlc import pack
from protocol.messages import CatalogueUpsert, ScanPayload, ScanRecorded

NODE = "wh1-pack-1"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def ev(seq: int, wall_ms: int = NOW_MS) -> bytes:
    return codec.encode_event(
        ScanRecorded(
            node=NODE,
            epoch=1,
            seq=seq,
            id=uuid.UUID(int=seq),
            hlc=pack(wall_ms, 0),
            payload=ScanPayload(station="pack-1", barcode=f"B{seq}", verdict="unknown"),
        )
    )


def batch(*seqs: int) -> codec.Batch:
    return codec.decode_batch(codec.encode_batch(NODE, [ev(s) for s in seqs]), NODE)


def apply(engine: Engine, b: codec.Batch) -> object:
    with transaction(session_factory(engine)) as s:
        return apply_batch(s, b, NOW)


def stored(engine: Engine) -> list[int]:
    with session_factory(engine)() as s:
        return list(
            s.execute(select(Event.seq).where(Event.node_id == NODE).order_by(Event.seq)).scalars()
        )


def test_apply_duplicate_overlap_gap(engine: Engine) -> None:
    r = apply(engine, batch(1, 2, 3))
    assert (r.acked_through, r.applied, r.resend_from) == (3, 3, None)  # type: ignore[attr-defined]
    r = apply(engine, batch(1, 2, 3))  # a duplicate changes nothing
    assert (r.acked_through, r.applied, r.duplicates) == (3, 0, 3)  # type: ignore[attr-defined]
    r = apply(engine, batch(2, 3, 4, 5))  # an overlap applies only its new tail
    assert (r.acked_through, r.applied, r.duplicates) == (5, 2, 2)  # type: ignore[attr-defined]
    r = apply(engine, batch(8, 9))  # a gap: nothing applied, resend asked
    assert (r.acked_through, r.applied, r.resend_from) == (5, 0, 6)  # type: ignore[attr-defined]
    assert stored(engine) == [1, 2, 3, 4, 5]


def test_parked_event_counts_as_applied_and_is_kept(engine: Engine) -> None:
    bad = {**orjson.loads(ev(2)), "type": "pallet.teleported"}
    raw = codec.encode_batch(NODE, [ev(1), orjson.dumps(bad), ev(3)])
    r = apply(engine, codec.decode_batch(raw, NODE))
    assert r.parked == [2]  # type: ignore[attr-defined]
    assert r.acked_through == 3  # type: ignore[attr-defined]
    assert stored(engine) == [1, 3]
    with session_factory(engine)() as s:
        p = s.execute(select(ParkedEvent)).scalar_one()
        assert p.seq == 2
        assert "pallet.teleported" in p.reason
        assert p.raw["type"] == "pallet.teleported"


def test_clock_far_off_is_flagged_not_refused(engine: Engine) -> None:
    raw = codec.encode_batch(
        NODE, [ev(1, wall_ms=0), ev(2)]
    )  # seq 1 from a node that booted at 1970
    apply(engine, codec.decode_batch(raw, NODE))
    with session_factory(engine)() as s:
        flags = list(s.execute(select(Event.clock_suspect).order_by(Event.seq)).scalars())
    assert flags == [True, False]


def test_clock_is_judged_by_the_batch_send_time_not_by_event_age(engine: Engine) -> None:
    minute = 60_000

    def flags(first: int, stamps: list[int], sent_ms: int | None) -> list[bool]:
        events = [ev(first + i, wall_ms=w) for i, w in enumerate(stamps)]
        raw = codec.encode_batch(NODE, events, sent_ms)
        r = apply(engine, codec.decode_batch(raw, NODE))
        with session_factory(engine)() as s:
            got = list(
                s.execute(
                    select(Event.clock_suspect).where(Event.seq >= first).order_by(Event.seq)
                ).scalars()
            )
        assert r.suspect_clock == sum(got)  # type: ignore[attr-defined]
        return got

    # Delivered late after a 30-minute partition, sent now by a right clock: none suspect
    # (judged by age at arrival, all three were: issue 19, 7,270 of 8,000 after a cut).
    late = [NOW_MS - 30 * minute, NOW_MS - 15 * minute, NOW_MS - 1000]
    assert flags(1, late, NOW_MS - 200) == [False, False, False]
    # A node whose clock is really off by 5 minutes (and a bit), either way: all suspect,
    # however fresh its events look to it.
    off = 5 * minute + 1000
    assert flags(4, [NOW_MS + off, NOW_MS + off], NOW_MS + off) == [True, True]
    assert flags(6, [NOW_MS - off - 30 * minute, NOW_MS - off], NOW_MS - off) == [True, True]
    # Within the bound (4 minutes off) nothing is.
    assert flags(8, [NOW_MS - 4 * minute], NOW_MS - 4 * minute) == [False]
    # A right clock now, but an event stamped beyond the bound after the send time (written
    # while the clock ran ahead, since corrected): that event only.
    assert flags(9, [NOW_MS + 10 * minute, NOW_MS - 1000], NOW_MS) == [True, False]
    # A batch without a send time (a node older than the field): each event by its age.
    assert flags(11, [NOW_MS - 30 * minute, NOW_MS], None) == [True, False]
    with session_factory(engine)() as s:
        node = s.get(Node, NODE)
        assert node is not None and node.acked_through == 12


def test_new_node_gets_the_catalogue_in_its_downlink(engine: Engine) -> None:
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        catalogue.upsert_sku(s, CatalogueUpsert(sku_code="A", name="a", barcodes=["111"]), NOW)
    with transaction(sessions) as s:
        ack, down = hello(s, NODE, 0, NOW)
    assert ack.acked_through == 0
    assert [c.payload.sku_code for c in down.changes] == ["A"]
    with transaction(sessions) as s:
        pushes = catalogue.upsert_sku(
            s, CatalogueUpsert(sku_code="B", name="b", barcodes=["222"]), NOW
        )
    assert pushes == {NODE: 1}
    with transaction(sessions) as s:
        _, down = hello(s, NODE, 1, NOW)
    assert [(c.seq, c.payload.sku_code) for c in down.changes] == [(2, "B")]
    assert down.head == 2


def test_hellos_of_many_nodes_answer_as_each_alone(engine: Engine) -> None:
    """A site coming up: new and known nodes say hello in one group (one transaction)."""
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        catalogue.upsert_sku(s, CatalogueUpsert(sku_code="A", name="a", barcodes=["111"]), NOW)
        hello(s, "known-behind", 0, NOW)
        hello(s, "known-current", 0, NOW)
    with transaction(sessions) as s:
        catalogue.upsert_sku(s, CatalogueUpsert(sku_code="B", name="b", barcodes=["222"]), NOW)
    apply(engine, batch(1, 2))  # NODE is known and has events acked
    pulls = {"new-1": 0, "new-2": 0, "known-behind": 1, "known-current": 2, NODE: 2}
    with transaction(sessions) as s:
        answers = hellos(s, pulls, NOW)
    assert sorted(answers) == sorted(pulls)
    got = {
        n: (ack.acked_through, [(c.seq, c.payload.sku_code) for c in d.changes], d.head, d.after)
        for n, (ack, d) in answers.items()
    }
    assert got == {
        "new-1": (0, [(1, "A"), (2, "B")], 2, 0),  # seeded with the whole catalogue
        "new-2": (0, [(1, "A"), (2, "B")], 2, 0),
        "known-behind": (0, [(2, "B")], 2, 1),
        "known-current": (0, [], 2, 2),  # nothing beyond its cursor: nothing read
        NODE: (2, [], 2, 2),
    }
    with sessions() as s:
        assert s.get(Node, "new-2") is not None
        assert s.get(Node, "new-2").down_head == 2  # type: ignore[union-attr]


def test_two_workers_racing_apply_each_seq_once(engine: Engine) -> None:
    """Two ingest workers get overlapping batches at once; every seq lands exactly once."""
    sessions = session_factory(engine)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for start in range(1, 200, 10):
                b = batch(*range(max(1, start - offset), start + 10))
                with transaction(sessions) as s:
                    apply_batch(s, b, NOW)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (0, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        seqs = list(s.execute(select(Event.seq).order_by(Event.seq)).scalars())
        node = s.get(Node, NODE)
        assert node is not None
        assert node.acked_through == 200
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == 200
    assert seqs == list(range(1, 201))


def test_downlink_compaction_keeps_the_newest_change_per_key(engine: Engine) -> None:
    from cloud.nodes import downlink

    sessions = session_factory(engine)
    with transaction(sessions) as s:
        hello(s, NODE, 0, NOW)  # the node exists and is seeded (empty catalogue)
    for name in ("v1", "v2", "v3"):
        with transaction(sessions) as s:
            catalogue.upsert_sku(s, CatalogueUpsert(sku_code="A", name=name, barcodes=["111"]), NOW)
    with transaction(sessions) as s:
        catalogue.upsert_sku(s, CatalogueUpsert(sku_code="B", name="b", barcodes=["222"]), NOW)
    with transaction(sessions) as s:
        assert downlink.compact(s) == 2  # A v1 and v2 are superseded by v3
    with transaction(sessions) as s:
        _, down = hello(s, NODE, 0, NOW)  # a node far behind gets the compacted log
    assert [(c.seq, c.payload.name) for c in down.changes] == [(3, "v3"), (4, "b")]
    assert down.after == 0
    with transaction(sessions) as s:
        _, down = hello(s, NODE, 3, NOW)
    assert [c.seq for c in down.changes] == [4]


def test_node_status_with_device_health_is_kept(engine: Engine) -> None:
    from cloud.settings import Settings
    from cloud.sync.worker import IngestWorker
    from protocol.messages import DeviceStatus, NodeState

    sessions = session_factory(engine)
    with transaction(sessions) as s:
        hello(s, NODE, 0, NOW)
    worker = IngestWorker(Settings(), sessions)
    worker._presence(
        NodeState(
            node=NODE,
            online=True,
            epoch=1,
            last_seq=9,
            acked_through=4,
            backlog=5,
            oldest_unacked_age_s=1.5,
            devices=[
                DeviceStatus(
                    name="zebra-sf",
                    kind="printer",
                    connected=False,
                    errors=2,
                    last_error="paper out",
                )
            ],
        )
    )
    with sessions() as s:
        node = s.get(Node, NODE)
        assert node is not None
        assert (node.online, node.backlog, node.last_seq) == (True, 5, 9)
        assert node.devices is not None
        assert node.devices[0]["last_error"] == "paper out"
        assert node.devices[0]["connected"] is False


def test_a_groups_node_cursors_are_stored_for_the_next_group(engine: Engine) -> None:
    """Several nodes' batches in one group write each node's cursor (acked through, epoch,
    lag, last seen), and only the group's own nodes: on PostgreSQL in one statement
    (cloud/sync/ingest.py ``_save_cursors``), which the next group reads back."""
    from cloud.sync.ingest import apply_batches

    def of(node: str, seqs: range, epoch: int, wall_ms: int) -> codec.Batch:
        events = [
            codec.encode_event(
                ScanRecorded(
                    node=node,
                    epoch=epoch,
                    seq=s,
                    id=uuid.uuid4(),
                    hlc=pack(wall_ms, 0),
                    payload=ScanPayload(station="pack-1", barcode=f"B{s}", verdict="unknown"),
                )
            )
            for s in seqs
        ]
        return codec.decode_batch(codec.encode_batch(node, events), node)

    sessions = session_factory(engine)
    with transaction(sessions) as s:
        hello(s, "wh1-idle", 0, NOW)  # a node outside the groups keeps its row as it was
    with transaction(sessions) as s:
        apply_batches(
            s,
            {
                "wh1-a": [of("wh1-a", range(1, 4), 1, NOW_MS - 250)],
                "wh1-b": [of("wh1-b", range(1, 3), 2, NOW_MS)],
            },
            NOW,
        )
    later = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)
    with transaction(sessions) as s:
        out = apply_batches(
            s,
            {
                "wh1-a": [of("wh1-a", range(2, 6), 1, NOW_MS)],
                "wh1-b": [of("wh1-b", range(4, 5), 2, NOW_MS)],
            },
            later,
        )
    # The second group saw the first one's cursors: a's overlap applied only its new tail,
    # b's gap (3 missing) asked for a resend from 3.
    assert (out["wh1-a"][0].applied, out["wh1-a"][0].duplicates) == (2, 2)
    assert out["wh1-b"][0].resend_from == 3
    with session_factory(engine)() as s:
        rows = {
            n.node_id: (n.acked_through, n.epoch, n.sync_lag_ms, n.last_seen.replace(tzinfo=UTC))
            for n in s.scalars(select(Node))
        }
    assert rows["wh1-a"] == (5, 1, 5000, later)
    assert rows["wh1-b"][:2] == (2, 2)
    assert rows["wh1-b"][3] == later
    assert rows["wh1-idle"][:2] == (0, 0)


def test_a_known_nodes_group_is_applied_without_orm_node_rows(engine: Engine) -> None:
    """A group of known nodes reads and writes their cursors as plain rows
    (cloud/nodes/registry.py ``lock_cursors``): no Node object is built, none is flushed
    (issue 20: ORM node rows were a fifth of the hub's CPU at 2,000 nodes). The cursor
    still moves in the same transaction as the events it covers."""
    apply(engine, batch(1))  # the node's first batch creates its row (through the ORM)
    with transaction(session_factory(engine)) as s:
        r = apply_batch(s, batch(2, 3), NOW)
        assert [o for o in s if isinstance(o, Node)] == []
        assert s.execute(select(Node.acked_through).where(Node.node_id == NODE)).scalar_one() == 3
    assert (r.acked_through, r.applied) == (3, 2)
    assert stored(engine) == [1, 2, 3]


def test_a_node_the_session_holds_moves_its_cursor_on_that_object(engine: Engine) -> None:
    """A node already loaded in the caller's session is applied on that object, as the
    unit of work had it, so the caller reads the new cursor from it and no write of the
    object's older values follows."""
    apply(engine, batch(1))
    with transaction(session_factory(engine)) as s:
        node = s.get(Node, NODE)
        assert node is not None and node.acked_through == 1
        apply_batch(s, batch(2, 3), NOW)
        assert node.acked_through == 3
    r = apply(engine, batch(3, 4))
    assert (r.acked_through, r.applied, r.duplicates) == (4, 1, 1)  # type: ignore[attr-defined]
    assert stored(engine) == [1, 2, 3, 4]
