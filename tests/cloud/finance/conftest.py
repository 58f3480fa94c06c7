"""Fixtures of the books: a migrated database (both dialects) with the chart seeded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import session_factory, transaction
from cloud.finance.chart import seed_chart

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
SELLER = 1  # the default account (migration 0003)


@pytest.fixture
def books(engine: Engine) -> sessionmaker[Session]:
    factory = session_factory(engine)
    with transaction(factory) as s:
        seed_chart(s, SELLER)
    return factory
