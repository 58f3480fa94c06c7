"""A node restored from an old backup continues after what the cloud holds: nothing lost,
nothing doubled, no seq that means two things."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Event
from cloud.sync.ingest import apply_batch
from edge.store.store import Store
from protocol import codec
from protocol.messages import ScanPayload

NODE = "wh1-pack-1"


def scan(store: Store, code: str) -> None:
    store.record_scan(ScanPayload(station="pack-1", barcode=code, verdict="unknown"))


def sync(store: Store, engine: Engine, record_ack: bool = True) -> int:
    """What the agent does: send everything after the ack, apply, record the ack."""
    sessions = session_factory(engine)
    after = store.acked_through
    while rows := store.pending(after, 7, 10**6):
        batch = codec.decode_batch(codec.encode_batch(NODE, [b for _, b in rows]), NODE)
        with transaction(sessions) as s:
            result = apply_batch(s, batch, datetime.now(UTC))
        assert result.resend_from is None
        after = result.acked_through
        if record_ack:
            store.mark_acked(after)
    return after


def cloud_barcodes(engine: Engine) -> list[str]:
    with session_factory(engine)() as s:
        rows = s.execute(select(Event.seq, Event.type, Event.payload).order_by(Event.seq)).all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    return [r.payload["barcode"] for r in rows if r.type == "scan.recorded"]


def test_restore_from_an_old_backup_rebases(tmp_path: Path, engine: Engine) -> None:
    db = tmp_path / "edge.db"
    store = Store(db, NODE)
    store.start_epoch("test", "pack")
    for i in range(5):
        scan(store, f"OLD{i}")
    store.mark_acked(
        sync(store, engine, record_ack=False) - 3
    )  # the ack of the last 3 is in flight
    store.backup_to(tmp_path / "backup.db")  # ...when the backup is taken
    sync(store, engine)
    for i in range(5, 9):
        scan(store, f"OLD{i}")  # written after the backup
    sync(store, engine)  # the cloud now holds everything through seq 10
    store.close()

    # The disk dies; the node comes back from the backup and keeps scanning before it reconnects.
    restored = Store.restore_from(tmp_path / "backup.db", db, NODE)
    assert (restored.last_seq, restored.acked_through) == (6, 3)  # the cloud holds 1..10
    restored.start_epoch("test", "pack")
    for i in range(3):
        scan(restored, f"NEW{i}")
    # A mark_acked now would be refused as impossible; the agent re-bases first.
    moved = restored.rebase(10)
    assert moved == 4  # node.started + 3 scans of the new life, renumbered after 10
    assert (restored.last_seq, restored.acked_through, restored.restore_epoch) == (14, 10, 0)
    sync(restored, engine)

    barcodes = cloud_barcodes(engine)
    assert barcodes == [f"OLD{i}" for i in range(9)] + [f"NEW{i}" for i in range(3)]
    local = [
        r[0]
        for r in restored.conn.execute(
            "SELECT barcode FROM scan WHERE barcode LIKE 'NEW%' ORDER BY seq"
        )
    ]
    assert local == ["NEW0", "NEW1", "NEW2"]
    assert restored.integrity_ok()


def test_rebase_is_a_no_op_without_a_restore(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", NODE)
    store.start_epoch("test", "pack")
    scan(store, "A")
    assert store.rebase(0) == 0
    assert store.last_seq == 2
