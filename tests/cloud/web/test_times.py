"""Times on the dashboard and in its exports read in China time, the seller's clock (the
audit day and the home page's cut-off are China time too); every time is stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from cloud.web.export import guard
from cloud.web.render import when


def test_a_stored_utc_time_is_shown_in_china_time() -> None:
    at = datetime(2026, 12, 6, 19, 34, 53, tzinfo=UTC)
    assert when(at) == "2026-12-07 03:34:53"  # the next morning in Beijing
    assert when(at.replace(tzinfo=None)) == "2026-12-07 03:34:53"  # SQLite's naive UTC
    assert when("2026-12-06T19:34:53") == "2026-12-07 03:34:53"
    assert when("2026-12-06T19:34:53+00:00") == "2026-12-07 03:34:53"
    assert when(at.astimezone(timezone(timedelta(hours=-5)))) == "2026-12-07 03:34:53"
    assert when(at, "%m-%d %H:%M") == "12-07 03:34"


def test_nothing_and_text_that_is_no_time_pass_through() -> None:
    assert when(None) == "" and when("") == ""
    assert when("not a time") == "not a time"


def test_an_exported_time_carries_china_time_and_its_offset() -> None:
    at = datetime(2026, 12, 6, 19, 34, 53, tzinfo=UTC)
    assert guard(at) == "2026-12-07T03:34:53+08:00"
    assert guard(at.replace(tzinfo=None)) == "2026-12-07T03:34:53+08:00"
