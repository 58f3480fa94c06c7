"""Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).

A timestamp packs physical milliseconds (high 47 bits: some 4,400 years from
1970) and a logical counter (low 16 bits) into one non-negative 63-bit integer,
so timestamps compare as plain integers and fit a signed BIGINT column.

The clock is pure: callers pass the wall-clock reading in, and persist
:attr:`HLC.last` so a node that reboots at 1970 (no RTC) still moves forward
from where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LOGICAL_BITS: Final = 16
LOGICAL_MASK: Final = (1 << LOGICAL_BITS) - 1
MAX_HLC: Final = (1 << 63) - 1


def pack(physical_ms: int, logical: int) -> int:
    if not 0 <= logical <= LOGICAL_MASK:
        raise ValueError(f"logical counter {logical} out of range")
    if not 0 <= physical_ms < (1 << (63 - LOGICAL_BITS)):
        raise ValueError(f"physical time {physical_ms} ms out of range")
    return (physical_ms << LOGICAL_BITS) | logical


def unpack(ts: int) -> tuple[int, int]:
    """Return ``(physical_ms, logical)``."""
    return ts >> LOGICAL_BITS, ts & LOGICAL_MASK


@dataclass
class HLC:
    """The clock state of one node; ``last`` is the last timestamp issued."""

    last: int = 0

    def now(self, wall_ms: int) -> int:
        """Timestamp for a local or send event (the paper's Algorithm 1, send)."""
        l_old, c_old = unpack(self.last)
        l_new = max(l_old, wall_ms)
        c_new = c_old + 1 if l_new == l_old else 0
        if c_new > LOGICAL_MASK:  # counter exhausted within one ms: borrow the next ms
            l_new, c_new = l_new + 1, 0
        self.last = pack(l_new, c_new)
        return self.last

    def update(self, remote: int, wall_ms: int) -> int:
        """Merge a timestamp received from another node (Algorithm 1, receive)."""
        l_old, c_old = unpack(self.last)
        l_rem, c_rem = unpack(remote)
        l_new = max(l_old, l_rem, wall_ms)
        if l_new == l_old == l_rem:
            c_new = max(c_old, c_rem) + 1
        elif l_new == l_old:
            c_new = c_old + 1
        elif l_new == l_rem:
            c_new = c_rem + 1
        else:
            c_new = 0
        if c_new > LOGICAL_MASK:
            l_new, c_new = l_new + 1, 0
        self.last = pack(l_new, c_new)
        return self.last


def skew_ms(ts: int, wall_ms: int) -> int:
    """How far a timestamp's physical part is from a wall clock (positive: ahead)."""
    return unpack(ts)[0] - wall_ms
