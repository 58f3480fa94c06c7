"""A lock per serial value, so two receipts of one serial committed at the same moment see
each other (docs/inbound.md "Seen twice").

A PO receipt's serials are checked against every receipt of the hub
(cloud/stock/serials.py ``keep``). Each receipt holds only its own document's row lock, so
two receipts of one serial on two *different* POs (or a PO and a transfer) could each read
the serial's steps before the other wrote its own, and neither would be flagged. The read
and the write of a serial's steps therefore happen under a transaction-scoped advisory lock
keyed on the serial (PostgreSQL ``pg_advisory_xact_lock``, "Advisory Locks" in the
PostgreSQL manual, §13.3.5): the second receipt waits for the first to commit and then
reads its step. SQLite serialises writers anyway (one write transaction at a time), so
nothing is taken there.

The keys are the serials hashed into :data:`BUCKETS` buckets under the namespace
:data:`NAMESPACE` (the two-int form, apart from the migration lock's one-int key,
cloud/db/engine.py): a receipt of thousands of serials takes at most ``BUCKETS`` locks, well
inside PostgreSQL's shared lock table (``max_locks_per_transaction`` × connections). Two
receipts whose serials share a bucket only wait for each other. Buckets are locked in
ascending order, so two transactions taking overlapping sets wait, never deadlock; an
ingest takes them after its documents and nodes (cloud/sync/locks.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

#: ``classid`` of the advisory locks: "GJSN" as a 32-bit integer.
NAMESPACE: Final = 0x474A534E
BUCKETS: Final = 1024


def bucket(account_id: int, serial: str) -> int:
    """The serial's bucket (stable across processes: not Python's salted ``hash``)."""
    digest = hashlib.blake2b(f"{account_id}\x00{serial}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def lock(session: Session, account_id: int, serials: Iterable[str]) -> None:
    """Hold the locks of ``serials`` until the transaction ends (re-entrant: a lock held
    already is taken again at once)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({bucket(account_id, s) for s in serials})
    if not keys:
        return
    # One statement; the ordered subquery takes the locks in ascending order.
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:ns, k) FROM"
            " (SELECT unnest(CAST(:keys AS integer[])) AS k ORDER BY 1) AS b"
        ),
        {"ns": NAMESPACE, "keys": keys},
    )
