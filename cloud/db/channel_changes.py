"""Tables of later channel changes (issue 16): SKU mapping, refunds, the changes applied to
Guanjia orders, and the TMC messages seen; migration 0027_channel_changes.

Kept beside ``models.py`` (same ``Base``), as cloud/db/finance.py is. ``cloud.db.migrations.env``
and ``cloud.db.models``' users import this module so Alembic and the app see every table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class ChannelSkuMap(Base):
    """A shop's ``outer_sku_id`` (the seller's code on the marketplace) → our SKU code."""

    __tablename__ = "channel_sku_map"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    outer_sku_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(64))


class ChannelRefund(Base):
    """A refund (退款) as last downloaded, one row per (shop, refund id); written only when
    the incoming ``modified`` is not older than the stored one."""

    __tablename__ = "channel_refund"
    __table_args__ = (
        UniqueConstraint("shop_id", "refund_id"),
        Index("ix_channel_refund_trade", "shop_id", "external_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    refund_id: Mapped[str] = mapped_column(String(64))
    #: The trade (``tid``) and line (``oid``) refunded.
    external_id: Mapped[str] = mapped_column(String(64))
    oid: Mapped[str] = mapped_column(String(64))
    #: WAIT_SELLER_AGREE … SUCCESS / CLOSED, as the marketplace says.
    status: Mapped[str] = mapped_column(String(40))
    #: "onsale" (before shipping) or "aftersale".
    phase: Mapped[str] = mapped_column(String(16))
    refund_fee: Mapped[Decimal] = mapped_column(Numeric(18, 2, asdecimal=True))
    modified: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    versions: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime]
    changed_at: Mapped[datetime]


class ChannelChange(Base):
    """A later change of a channel order that reached (or was kept from) the Guanjia order:
    an address edit, a cancel, a refund request. ``change_key`` is unique per shop, so each
    change is applied once however often its version is read."""

    __tablename__ = "channel_change"
    __table_args__ = (
        UniqueConstraint("shop_id", "change_key"),
        Index("ix_channel_change_order", "order_id"),
        Index("ix_channel_change_after_sales", "account_id", "outcome"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("sales_order.id"))
    #: "address", "cancel", "refund", "refund_ended".
    kind: Mapped[str] = mapped_column(String(24))
    change_key: Mapped[str] = mapped_column(String(200))
    #: "applied" (the order changed), "held" (held for a person), "after_sales" (shipped
    #: already: for the after-sales flow, issue 17), "none" (nothing to do).
    outcome: Mapped[str] = mapped_column(String(16))
    #: The English the API answers: our own sentence, or the marketplace's words as sent.
    detail: Mapped[str] = mapped_column(String(300))
    #: Our sentence's gettext message id and parameters (cloud/errors.py ``written``), so the
    #: shop page says it in its language (migration 0051). Null for words as sent and for a
    #: row from before whose English did not parse: the page shows ``detail`` as it is.
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime]


class ChannelMessage(Base):
    """A pushed message (TMC) seen, by its id: a message delivered again is not used twice."""

    __tablename__ = "channel_message"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    topic: Mapped[str] = mapped_column(String(80))
    external_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime]
