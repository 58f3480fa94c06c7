"""Alembic environment: the engine is handed in by cloud.db.migrate (never built here)."""

from __future__ import annotations

from alembic import context

import cloud.db.aftersales
import cloud.db.channel_changes
import cloud.db.channel_diff
import cloud.db.channel_stock
import cloud.db.courier_bill
import cloud.db.einvoice
import cloud.db.finance
import cloud.db.payables
import cloud.db.serials
import cloud.db.settlement
import cloud.db.shopify
import cloud.db.transfers
import cloud.db.waybills  # noqa: F401 - every table of ours is in the metadata
from cloud.db.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
