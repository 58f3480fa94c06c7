from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.hlc import HLC, LOGICAL_MASK, pack, skew_ms, unpack


def test_pack_unpack() -> None:
    assert unpack(pack(1_790_000_000_000, 7)) == (1_790_000_000_000, 7)


def test_clock_going_back_still_moves_forward() -> None:
    clock = HLC()
    a = clock.now(1_790_000_000_000)
    b = clock.now(0)  # rebooted at 1970 with no RTC
    c = clock.now(0)
    assert a < b < c
    assert unpack(c) == (1_790_000_000_000, 2)


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    clock = HLC(pack(1000, LOGICAL_MASK))
    assert unpack(clock.now(1000)) == (1001, 0)


def test_update_orders_after_remote() -> None:
    clock = HLC()
    remote = pack(5000, 3)
    ts = clock.update(remote, 10)
    assert ts > remote
    assert skew_ms(ts, 4000) == 1000


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 2**40), st.integers(0, 2**40)), max_size=60)
)
def test_strictly_monotonic_whatever_the_clocks_do(steps: list[tuple[bool, int, int]]) -> None:
    clock = HLC()
    last = -1
    for is_receive, wall, remote_ms in steps:
        ts = clock.update(pack(remote_ms, 0), wall) if is_receive else clock.now(wall)
        assert ts > last
        last = ts
