"""Random (version 4) UUIDs for rows made in bulk, drawn from a per-thread pool of random bytes.

``uuid.uuid4()`` reads 16 bytes from the kernel per id: one system call each, and each call
gives up the GIL, which another busy thread then holds for up to its switch interval (5 ms).
Order arrival makes an id per order and per stock movement (thousands a batch); reading the
randomness for 256 ids at once makes them the same ids (RFC 9562 §5.4: 122 random bits from
the OS's CSPRNG, version and variant set) at a 256th of the system calls.
"""

from __future__ import annotations

import os
import threading
import uuid

_BATCH = 256
_local = threading.local()


def _forget() -> None:
    # A forked child must not hand out the ids its parent holds in its pool.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget)


def uuid4() -> str:
    """A random UUID as text, as ``str(uuid.uuid4())`` gives it."""
    pool: list[bytes] | None = getattr(_local, "pool", None)
    if not pool:
        raw = os.urandom(16 * _BATCH)
        pool = [raw[i : i + 16] for i in range(0, len(raw), 16)]
        _local.pool = pool
    return str(uuid.UUID(bytes=pool.pop(), version=4))
