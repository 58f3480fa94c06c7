from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from edge.store.store import MIGRATIONS, Store, StoreError
from protocol import codec
from protocol.hlc import skew_ms
from protocol.messages import CatalogueUpsert, CatalogueUpserted, DownBatch, ScanPayload

NODE = "wh1-pack-1"


def payload(barcode: str = "6901234567892") -> ScanPayload:
    return ScanPayload(station="pack-1", barcode=barcode, sku_code=None, verdict="unknown")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "edge.db", NODE, wall_ms=lambda: 1_790_000_000_000)
    s.start_epoch("test", "demo")
    return s


def test_wal_full_sync_and_migrations_once(tmp_path: Path, store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    names = [r[0] for r in store.conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [n for n, _ in MIGRATIONS]
    store.close()
    again = Store(tmp_path / "edge.db", NODE)
    assert again.migrate() == []


def test_event_and_state_commit_together(store: Store) -> None:
    ev = store.record_scan(payload())
    assert ev.seq == 2  # seq 1 is node.started
    row = store.conn.execute("SELECT body FROM outbox WHERE seq = ?", (ev.seq,)).fetchone()
    assert orjson.loads(row[0])["payload"]["barcode"] == "6901234567892"
    assert store.conn.execute("SELECT barcode FROM scan WHERE seq = ?", (ev.seq,)).fetchone() == (
        "6901234567892",
    )


def test_rollback_takes_the_sequence_number_with_it(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic():
        store.record_scan(payload("A"))
        raise RuntimeError("power cut simulation")
    assert store.conn.execute("SELECT count(*) FROM scan").fetchone()[0] == 0
    ev = store.record_scan(payload("B"))
    seqs = [r[0] for r in store.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, ev.seq + 1))  # gapless


def test_nested_atomic_is_a_savepoint(store: Store) -> None:
    with store.atomic():
        store.record_scan(payload("A"))
        with pytest.raises(ValueError, match="inner"), store.atomic():
            store.record_scan(payload("B"))
            raise ValueError("inner")
        store.record_scan(payload("C"))
    got = [r[0] for r in store.conn.execute("SELECT barcode FROM scan ORDER BY seq")]
    assert got == ["A", "C"]
    seqs = [r[0] for r in store.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


def test_events_only_inside_atomic(store: Store) -> None:
    with pytest.raises(StoreError, match="inside atomic"):
        store._append(lambda *a: None)


def test_epoch_increments_at_each_start(tmp_path: Path, store: Store) -> None:
    assert store.epoch == 1
    store.close()
    s2 = Store(tmp_path / "edge.db", NODE)
    assert s2.start_epoch("test", "demo") == 2
    ev = s2.record_scan(payload())
    assert ev.epoch == 2


def test_hlc_survives_a_reboot_at_1970(tmp_path: Path, store: Store) -> None:
    before = store.record_scan(payload()).hlc
    store.close()
    s2 = Store(tmp_path / "edge.db", NODE, wall_ms=lambda: 0)
    assert s2.record_scan(payload()).hlc > before


def test_hlc_recovers_from_a_year_ahead_clock_across_a_restart(tmp_path: Path) -> None:
    """Issue 19, finding 3: one forward jump flagged every later event "clock suspect"."""
    now = 1_790_000_000_000
    wall = [now + 365 * 86_400_000]  # the wall clock jumped a year ahead
    s1 = Store(tmp_path / "edge.db", NODE, wall_ms=lambda: wall[0])
    s1.start_epoch("test", "demo")
    ahead = s1.record_scan(payload()).hlc
    assert skew_ms(ahead, now) > 300_000
    wall[0] = now  # corrected, then a restart with the year-ahead clock on disk
    s1.close()
    s2 = Store(tmp_path / "edge.db", NODE, wall_ms=lambda: wall[0])
    s2.start_epoch("test", "demo")
    for _ in range(3):
        wall[0] += 1000
        # Within the cloud's clock_suspect bound (GUANJIA_CLOCK_SKEW_FLAG_S, 300 s).
        assert abs(skew_ms(s2.record_scan(payload()).hlc, wall[0])) <= 300_000
    assert s2.backlog() == 6  # nothing lost: seq, not the clock, orders the events


def test_pending_is_bounded_by_count_and_bytes(store: Store) -> None:
    for i in range(10):
        store.record_scan(payload(f"B{i}"))
    assert [s for s, _ in store.pending(0, 3, 10**6)] == [1, 2, 3]
    one = len(store.pending(1, 1, 10**6)[0][1])  # scans B0..B9 encode to the same size
    assert len(store.pending(1, 100, one * 2 + 5)) == 2
    assert len(store.pending(1, 100, 1)) == 1  # always at least one, or nothing could ever move
    batch = codec.encode_batch(NODE, [b for _, b in store.pending(0, 100, 10**6)])
    assert codec.decode_batch(batch, NODE).last_seq == 11


def test_ack_never_moves_backwards_or_past_the_end(store: Store) -> None:
    store.record_scan(payload())
    assert store.mark_acked(2)
    assert not store.mark_acked(1)
    assert store.acked_through == 2
    with pytest.raises(StoreError, match="last seq is 2"):
        store.mark_acked(5)
    assert store.backlog() == 0


def test_downlink_applies_once_in_order_and_stops_at_a_gap(store: Store) -> None:
    def change(seq: int, code: str, bc: str) -> CatalogueUpserted:
        return CatalogueUpserted(
            seq=seq, payload=CatalogueUpsert(sku_code=code, name=code, barcodes=[bc])
        )

    b1 = DownBatch(node=NODE, changes=[change(1, "A", "111"), change(2, "B", "222")], head=2)
    assert store.apply_down(b1) == 2
    assert store.apply_down(b1) == 0  # a replay changes nothing
    assert store.lookup_barcode("222") is not None
    gap = DownBatch(node=NODE, changes=[change(4, "D", "444")], head=4)
    assert store.apply_down(gap) == 0
    assert store.down_applied == 2
    assert store.lookup_barcode("444") is None
    moved = DownBatch(node=NODE, changes=[change(3, "A", "222")], head=3)  # barcode moves to A
    assert store.apply_down(moved) == 1
    sku = store.lookup_barcode("222")
    assert sku is not None
    assert sku.sku_code == "A"


def test_integrity(store: Store) -> None:
    assert store.integrity_ok()
    assert isinstance(store.conn, sqlite3.Connection)


def test_compacted_downlink_skips_superseded_seqs(store: Store) -> None:
    def change(seq: int, code: str) -> CatalogueUpserted:
        return CatalogueUpserted(
            seq=seq, payload=CatalogueUpsert(sku_code=code, name=code, barcodes=[code])
        )

    # Seqs 1-3 were superseded by 4 and 6 (same keys) and dropped by the cloud's compaction.
    compacted = DownBatch(node=NODE, changes=[change(4, "A"), change(6, "B")], head=6, after=0)
    assert store.apply_down(compacted) == 2
    assert store.down_applied == 6
    ahead = DownBatch(
        node=NODE, changes=[change(9, "C")], head=9, after=8
    )  # continues past what we have
    assert store.apply_down(ahead) == 0
    assert store.down_applied == 6
    assert store.lookup_barcode("C") is None
