"""``--seed-range START:STOP`` (tests/conftest.py): a part of a long property test's seeds."""

from __future__ import annotations

import pytest


def seed_range(config: pytest.Config, default: range) -> range:
    """The seeds given with ``--seed-range``, else ``default``."""
    given = config.getoption("--seed-range")
    if not given:
        return default
    start, stop = (int(x) for x in str(given).split(":"))
    return range(start, stop)
