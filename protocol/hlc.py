"""Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).

A timestamp packs physical milliseconds (high 47 bits: some 4,400 years from
1970) and a logical counter (low 16 bits) into one non-negative 63-bit integer,
so timestamps compare as plain integers and fit a signed BIGINT column.

The clock is pure: callers pass the wall-clock reading in, and persist
:attr:`HLC.last` so a node that reboots at 1970 (no RTC) still moves forward
from where it was.

Bounded drift (docs/sync.md, "Identity and order"). The paper's clock never goes
back, so a wall clock that once jumped a year ahead (a bad NTP answer, a hand-set
date) and was corrected kept every later timestamp a year ahead, persisted across
restarts, and the cloud flagged each event "clock suspect" until real time caught up
(issue 19, finding 3). Here the clock follows the paper only while it leads a
*plausible* wall reading (at or after :data:`MIN_WALL_MS`) by at most
:data:`MAX_DRIFT_MS`; further ahead than that, the wall clock is taken as the truth and
the clock re-bases on it (``logical`` 0), once, stepping back. Nothing is ordered by
HLC (a node's events by their ``seq``, the cloud's state by its own transactions),
so a step back reorders nothing; it only stops the false "clock suspect". A wall
reading before :data:`MIN_WALL_MS` is no clock at all (a board without an RTC boots at
1970): then the clock keeps moving forward from where it was, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LOGICAL_BITS: Final = 16
LOGICAL_MASK: Final = (1 << LOGICAL_BITS) - 1
MAX_HLC: Final = (1 << 63) - 1
#: How far the clock may lead a plausible wall clock before it re-bases on it: the cloud's
#: "clock suspect" bound (``GUANJIA_CLOCK_SKEW_FLAG_S``, 300 s), so ordinary corrections
#: (NTP steps of seconds, the ±288 s of a drifting RTC) keep the paper's monotonic clock.
MAX_DRIFT_MS: Final = 300_000
#: 2025-01-01T00:00:00Z: a wall clock reading before this software existed is no clock.
MIN_WALL_MS: Final = 1_735_689_600_000


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
    max_drift_ms: int = MAX_DRIFT_MS
    min_wall_ms: int = MIN_WALL_MS

    def _recovered(self, wall_ms: int) -> tuple[int, int]:
        """``last`` unpacked, or the wall clock when ``last`` ran too far ahead of it."""
        l_old, c_old = unpack(self.last)
        if wall_ms >= self.min_wall_ms and l_old - wall_ms > self.max_drift_ms:
            return wall_ms, -1  # re-base: the next timestamp is (wall, 0)
        return l_old, c_old

    def now(self, wall_ms: int) -> int:
        """Timestamp for a local or send event (the paper's Algorithm 1, send)."""
        l_old, c_old = self._recovered(wall_ms)
        l_new = max(l_old, wall_ms)
        c_new = c_old + 1 if l_new == l_old else 0
        if c_new > LOGICAL_MASK:  # counter exhausted within one ms: borrow the next ms
            l_new, c_new = l_new + 1, 0
        self.last = pack(l_new, c_new)
        return self.last

    def update(self, remote: int, wall_ms: int) -> int:
        """Merge a timestamp received from another node (Algorithm 1, receive)."""
        l_old, c_old = self._recovered(wall_ms)
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
