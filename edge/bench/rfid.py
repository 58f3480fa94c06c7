"""RFID ingest benchmark: sllurp's RO_ACCESS_REPORT decoding vs. our whole pipeline.

(a) the limit: sllurp 3.x turning RO_ACCESS_REPORT bytes into tag dicts;
(b) our pipeline: the same decode -> :class:`TagAggregator` -> SQLite (WAL)
    upsert of the changed per-EPC rows, one transaction per batch of reports.

Figures are tag reports (TagReportData) per second.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from pathlib import Path

from edge.devices.rfid import TagAggregator, TagState
from protocol.devices import llrp

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rfid_tag (
    epc TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    seen_count INTEGER NOT NULL,
    rssi REAL,
    antenna INTEGER,
    present INTEGER NOT NULL
)
"""
_UPSERT = """
INSERT INTO rfid_tag (epc, first_seen, last_seen, seen_count, rssi, antenna, present)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(epc) DO UPDATE SET
    last_seen = excluded.last_seen, seen_count = excluded.seen_count,
    rssi = excluded.rssi, antenna = excluded.antenna, present = excluded.present
"""


class TagStore:
    """Per-EPC rows in SQLite with WAL; ``upsert`` writes one batch in one transaction."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint
        self.db.execute(_SCHEMA)

    def upsert(self, states: list[TagState]) -> None:
        if not states:
            return
        rows = [
            (s.epc, s.first_seen, s.last_seen, s.count, s.rssi, s.antenna, int(s.present))
            for s in states
        ]
        self.db.execute("BEGIN")
        self.db.executemany(_UPSERT, rows)
        self.db.execute("COMMIT")

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM rfid_tag").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def _frames(n_reports: int, per_report: int, population: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    epcs = [bytes.fromhex(f"3034257BF7194E40{i:08X}") for i in range(population)]
    t0 = 1_700_000_000_000_000
    frames = []
    for f in range((n_reports + per_report - 1) // per_report):
        tags = tuple(
            llrp.TagReport(
                epc=rng.choice(epcs),
                antenna_id=rng.randint(1, 4),
                peak_rssi=rng.randint(-75, -40),
                first_seen_utc_us=t0 + f * 1000,
                last_seen_utc_us=t0 + f * 1000 + 500,
                tag_seen_count=rng.randint(1, 5),
            )
            for _ in range(per_report)
        )
        frames.append(llrp.encode(llrp.ROAccessReport(message_id=f + 1, tags=tags)))
    return frames


def bench_rfid(n_reports: int = 200_000) -> dict[str, float]:
    """Tag reports/s for sllurp decode alone and for decode -> aggregate -> store."""
    from sllurp.llrp import LLRPMessage

    per_report, population, batch_frames = 100, 2_000, 20
    frames = _frames(n_reports, per_report, population, seed=1)
    total = len(frames) * per_report

    start = time.perf_counter()
    for raw in frames:
        LLRPMessage(msgbytes=raw)
    decode_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        store = TagStore(Path(tmp) / "rfid.sqlite3")
        agg = TagAggregator(depart_after_s=3.0, antennas=(1, 2, 3, 4))
        now = 1_700_000_000.0
        start = time.perf_counter()
        for i, raw in enumerate(frames):
            msg = LLRPMessage(msgbytes=raw).msgdict["RO_ACCESS_REPORT"]
            agg.ingest(msg["TagReportData"], now + i * 0.01)
            if i % batch_frames == batch_frames - 1:
                agg.sweep(now + i * 0.01)
                store.upsert(agg.take_dirty())
        store.upsert(agg.take_dirty())
        pipeline_s = time.perf_counter() - start
        rows = store.count()
        store.close()

    decode_rate = total / decode_s
    pipeline_rate = total / pipeline_s
    return {
        "tag_reports": float(total),
        "tags_per_report": float(per_report),
        "distinct_epcs": float(rows),
        "sllurp_decode_tag_reports_per_s": round(decode_rate, 1),
        "pipeline_tag_reports_per_s": round(pipeline_rate, 1),
        "pipeline_over_decode_ratio": round(pipeline_rate / decode_rate, 3),
        "target_tag_reports_per_s": 50_000.0,
    }


if __name__ == "__main__":  # pragma: no cover
    for k, v in bench_rfid().items():
        print(f"{k}: {v}")
