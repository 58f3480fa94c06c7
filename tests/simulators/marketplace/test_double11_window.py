"""The list windows of a Double-11 hour (simulators/marketplace/double11.py) are the rows a scan
of the index gives, also when a window is kept between the pages of a listing: a version
recorded since, one becoming visible later, or the clock set back makes the window again."""

from __future__ import annotations

from simulators.marketplace import double11
from simulators.marketplace.market import Faults, Market


def _scan(m: Market, nick: str, start: float, end: float) -> list[tuple[int, int]]:
    rows = [(t["_modified"], t["tid"]) for t in m.indexed(nick) if start <= t["_modified"] <= end]
    return sorted(rows)


def _window(m: Market, nick: str, start: float, end: float) -> list[tuple[int, int]]:
    return sorted((at, tid) for at, tid, _ in double11.window(m, nick, start, end))


def test_a_kept_window_is_made_again_when_it_may_have_changed() -> None:
    m = Market(seed=3, faults=Faults())
    m.add_shop("k", "s", "sess", "nick")
    tids = []
    for _ in range(30):
        tids.append(m.place())
        m.now += 1
    start, end = m.now - 40, m.now - 5
    assert _window(m, "nick", start, end) == _scan(m, "nick", start, end) != []
    # A trade of the window changes (its new version is newer than the window): it leaves.
    m.change(tids[3], "modify", seller_memo="changed")
    assert _window(m, "nick", start, end) == _scan(m, "nick", start, end)
    assert tids[3] not in {tid for _, tid in _window(m, "nick", start, end)}
    # A version indexed late shows only from its visible_at on.
    m.faults.late_index, m.faults.late_index_max = 1.0, 30.0
    late = m.place()
    m.faults.late_index = 0.0
    wide = (start, m.now + 60)
    before = _window(m, "nick", *wide)
    assert before == _scan(m, "nick", *wide)
    m.now += 31
    assert _window(m, "nick", *wide) == _scan(m, "nick", *wide)
    assert late in {tid for _, tid in _window(m, "nick", *wide)}
    # The clock set back (a test may): the window is made again for that time.
    m.now -= 31
    assert _window(m, "nick", *wide) == _scan(m, "nick", *wide) == before
