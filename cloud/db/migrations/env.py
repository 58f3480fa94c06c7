"""Alembic environment: the engine is handed in by cloud.db.migrate (never built here)."""

from __future__ import annotations

from alembic import context

import cloud.db.channel_stock
import cloud.db.finance  # noqa: F401 - the books' tables are in the metadata too
from cloud.db.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
