"""The daily diff of order ids per shop (cloud/channels/diff.py); migration 0025_channel_diff.

Kept beside ``models.py`` (same ``Base``) rather than in it, so that the parts of issue 16
built at once each add their own module. ``cloud.db.migrations.env`` imports this module so
Alembic sees the table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class ChannelDiff(Base):
    """A shop's daily diff: when the next one is due (claimed with the shop's lease, as the
    re-scan is), and what the last one found."""

    __tablename__ = "channel_diff"
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    #: The shop's account, kept on the row so every query and check can filter by it.
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    next_diff_at: Mapped[datetime]
    last_diff_at: Mapped[datetime | None]
    #: Orders the last diff found that the increment list had never shown (should be 0).
    last_found: Mapped[int] = mapped_column(Integer, default=0)
    #: Every such order found, all diffs together (an alarm each time it grows).
    found_total: Mapped[int] = mapped_column(Integer, default=0)
    #: "ok", or "failed" with the run's error (the run itself is in ``channel_run``).
    last_outcome: Mapped[str | None] = mapped_column(String(16))
