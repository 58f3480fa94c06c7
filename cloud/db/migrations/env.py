"""Alembic environment: the engine is handed in by cloud.db.migrate (never built here)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

import cloud.db.aftersales
import cloud.db.channel_changes
import cloud.db.channel_diff
import cloud.db.channel_stock
import cloud.db.courier_bill
import cloud.db.einvoice
import cloud.db.finance
import cloud.db.ingest_leases
import cloud.db.payables
import cloud.db.serials
import cloud.db.settlement
import cloud.db.shopify
import cloud.db.transfers
import cloud.db.waybills
import cloud.db.wechat_bills  # noqa: F401 - every table of ours is in the metadata
from cloud.db.engine import MIGRATION_LOCK
from cloud.db.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Hubs on several machines may start at once, each migrating on start: the first
            # migrates while the others wait here, then find the schema at head (the version
            # is read after the lock). Released at commit. SQLite is a file on one machine,
            # where ``serve --workers N`` migrates once, in the parent (cloud/cli.py).
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.run_migrations()
    connection.commit()
