"""Times as TOP writes them: ``yyyy-MM-dd HH:mm:ss`` in GMT+8, whole seconds.

The gateway also accepts a request ``timestamp`` as epoch milliseconds, which is what the
official Java SDK sends (``System.currentTimeMillis()``), beside the documented text form.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

GMT8 = timezone(timedelta(hours=8))
FORMAT = "%Y-%m-%d %H:%M:%S"


def fmt(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), GMT8).strftime(FORMAT)


def parse_text(text: str) -> int | None:
    """``2026-11-11 00:00:01`` (GMT+8) -> epoch seconds; None when it is not that form."""
    try:
        return int(datetime.strptime(text.strip(), FORMAT).replace(tzinfo=GMT8).timestamp())
    except ValueError:
        return None


def parse_timestamp(text: str) -> float | None:
    """A request's ``timestamp``: the documented text or epoch milliseconds."""
    if text.isdigit() and len(text) >= 12:
        return int(text) / 1000
    return parse_text(text)
