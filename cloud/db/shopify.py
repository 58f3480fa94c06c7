"""Tables of the Shopify shape's webhooks (cloud/channels/shopify/webhooks.py,
docs/channels.md); migrations 0024_shopify and 0062_webhook_counts.

Kept beside ``models.py`` (same ``Base``), as cloud/db/finance.py is.
``cloud.db.migrations.env`` imports this module so Alembic sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class ChannelWebhookEvent(Base):
    """A webhook accepted (signature good, within the replay window), once per event id: the
    unique key is the de-duplication. Its body is not kept: it is a hint to pull the order
    (``state`` pending -> pulled, or failed with the reason)."""

    __tablename__ = "channel_webhook_event"
    __table_args__ = (
        UniqueConstraint("shop_id", "event_id", name="uq_channel_webhook_event"),
        Index("ix_channel_webhook_event_due", "shop_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    triggered_at: Mapped[datetime]
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    pulled_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class ChannelWebhookRejection(Base):
    """How many webhooks were refused, per reason (bad signature, stale, …): counted, with
    nothing else of them stored."""

    __tablename__ = "channel_webhook_rejection"

    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime]
    last_path: Mapped[str] = mapped_column(String(120))


class ChannelWebhookCount(Base):
    """Per shop, how many of its webhooks were refused, per reason, or were duplicates
    (``outcome``): the shop's page shows them (migration 0062). A refusal no secret verified
    is nobody's: it is not counted here."""

    __tablename__ = "channel_webhook_count"
    __table_args__ = (UniqueConstraint("shop_id", "outcome", name="uq_channel_webhook_count"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    outcome: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime]
