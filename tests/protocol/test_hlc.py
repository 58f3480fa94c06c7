from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.hlc import HLC, LOGICAL_MASK, MAX_DRIFT_MS, MIN_WALL_MS, pack, skew_ms, unpack


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


# --- bounded drift (issue 19, finding 3) ---------------------------------------------------

NOW = 1_790_000_000_000  # 2026-09
YEAR_MS = 365 * 86_400_000


def test_a_year_forward_jump_then_back_recovers_at_once() -> None:
    clock = HLC()
    clock.now(NOW)
    ahead = clock.now(NOW + YEAR_MS)  # the wall clock jumped a year ahead
    assert skew_ms(ahead, NOW + YEAR_MS) == 0
    back = clock.now(NOW + 1_000)  # and was corrected
    assert unpack(back) == (NOW + 1_000, 0)
    assert abs(skew_ms(clock.now(NOW + 2_000), NOW + 2_000)) <= MAX_DRIFT_MS
    # Persisted and loaded again (a restart): the same.
    reloaded = HLC(ahead)
    assert unpack(reloaded.now(NOW + 5_000)) == (NOW + 5_000, 0)
    assert unpack(HLC(ahead).update(pack(NOW, 0), NOW + 5_000)) == (NOW + 5_000, 0)


def test_a_step_back_within_the_bound_keeps_the_clock_monotonic() -> None:
    clock = HLC()
    a = clock.now(NOW)
    b = clock.now(NOW - 288_000)  # a drifting RTC corrected by 288 s
    assert b > a and unpack(b) == (NOW, 1)


def test_a_boot_without_rtc_still_moves_forward_after_a_jump() -> None:
    clock = HLC(pack(NOW + YEAR_MS, 0))
    assert unpack(clock.now(0)) == (NOW + YEAR_MS, 1)  # 1970 is no clock: no re-base
    assert MIN_WALL_MS > 0


@given(st.lists(st.integers(MIN_WALL_MS - NOW, 2 * YEAR_MS), max_size=60))
def test_drift_is_bounded_and_steps_back_only_to_the_wall(jumps: list[int]) -> None:
    clock = HLC()
    last = -1
    for jump in jumps:  # every reading a plausible clock (a 1970 boot is tested above)
        wall = NOW + jump
        ts = clock.now(wall)
        assert skew_ms(ts, wall) <= MAX_DRIFT_MS + 1  # + the counter's borrowed millisecond
        if ts <= last:  # stepped back: only onto the wall clock itself
            assert unpack(ts) == (wall, 0)
            assert unpack(last)[0] - wall > MAX_DRIFT_MS
        last = ts
