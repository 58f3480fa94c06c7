"""Tables of the ingest workers' partition leases (cloud/sync/partitions.py, docs/sync.md
"Partitions"); migration 0068_ingest_partitions.

Kept beside ``models.py`` (same ``Base``), as cloud/db/shopify.py is.
``cloud.db.migrations.env`` imports this module so Alembic sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class IngestWorkerRow(Base):
    """An ingest worker that is alive: it renews ``seen_at`` every tick. The partitions are
    shared out among the workers seen within the lease time."""

    __tablename__ = "ingest_worker"
    #: The worker's MQTT client id (unique per process: docs/deploy/hub.md).
    worker: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime]


class IngestPartition(Base):
    """One partition of the nodes' event topics (protocol/topics.py ``PARTITIONS``): the
    worker subscribed to it, until ``lease_until``, and the worker taking it over, which
    subscribes before it becomes the owner (the owner unsubscribes after, so the topic is
    never without a subscriber). Rows are made by the first worker that needs them."""

    __tablename__ = "ingest_partition"
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    taker: Mapped[str | None] = mapped_column(String(128))
