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

_BATCH = 256
_local = threading.local()


def _forget() -> None:
    # A forked child must not hand out the ids its parent holds in its pool.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget)


def _texts(raw: bytes) -> list[str]:
    """16 random bytes each as version-4 UUID text: the version nibble and the variant bits
    set as ``uuid.UUID(bytes=…, version=4)`` sets them, formatted without a UUID object
    (its constructor cost more than the rest of an order's id)."""
    out = []
    for i in range(0, len(raw), 16):
        h = raw[i : i + 16].hex()
        # octet 6: version 4 in the high nibble; octet 8: variant 10xx (RFC 9562 §4.1, §4.2)
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return out


#: The first hex digit of octet 8 with the variant bits set to 10: 0-3 -> 8-b, ... f -> b.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def uuid4() -> str:
    """A random UUID as text, as ``str(uuid.uuid4())`` gives it."""
    pool: list[str] | None = getattr(_local, "pool", None)
    if not pool:
        pool = _texts(os.urandom(16 * _BATCH))
        _local.pool = pool
    return pool.pop()
