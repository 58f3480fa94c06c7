"""Tables of the e-waybills (电子面单, docs/channels.md "E-waybills"); migration 0026_waybills.

Kept beside ``models.py`` (same ``Base``), as cloud/db/finance.py is. ``cloud.db.migrations.env``
imports this module so Alembic sees every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class WaybillSource(Base):
    """Where a seller's courier draws its waybills: the courier's e-waybill subscription on
    a shop's Cainiao account (the shop's credentials sign the calls). Orders of this courier
    are released with a waybill drawn from it; couriers without a source keep the hub's own
    stand-in numbers (cloud/orders/release.py ``allocate``)."""

    __tablename__ = "waybill_source"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    #: Our courier code (the order's ``carrier``).
    carrier: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    #: The courier as Cainiao names it (``cp_code``).
    cp_code: Mapped[str] = mapped_column(String(32))
    #: The sender printed on the label: name, mobile, province, city, district, detail.
    sender: Mapped[dict[str, Any]] = mapped_column(JSON)
    template_url: Mapped[str] = mapped_column(String(300), default="")
    changed_at: Mapped[datetime]


class Waybill(Base):
    """One parcel's waybill drawn from a courier (the outbox of draws and cancels).

    Written ``pending`` in the transaction that releases the order; the drawer
    (cloud/channels/waybills.py) draws it and puts the number on the order. States:
    ``pending`` (to draw), ``drawn`` (the order's number), ``cancel`` (to give back: the
    order was cancelled or withdrawn before it shipped), ``cancelled``, ``void`` (never
    drawn: the order left before the first call), ``failed`` (the courier refused; the
    order is held with ``error`` as the reason).
    """

    __tablename__ = "waybill"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_waybill_due", "state", "next_try_at"),
        Index("ix_waybill_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    carrier: Mapped[str] = mapped_column(String(64))
    cp_code: Mapped[str] = mapped_column(String(32))
    #: "<order id>:<parcel>:<draw>": the order's n-th draw for that parcel (a withdrawn and
    #: re-released order draws anew). Also the package id sent, so a repeated call after a
    #: lost answer returns the same number.
    idempotency_key: Mapped[str] = mapped_column(String(120))
    parcel: Mapped[int] = mapped_column(Integer, default=1)
    waybill_code: Mapped[str | None] = mapped_column(String(64))
    #: The courier's route code and sorting centre, printed big on the label.
    route: Mapped[str | None] = mapped_column(String(200))
    print_data: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class WaybillPool(Base):
    """A pack node's offline pool of one courier's e-waybill numbers (docs/channels.md "The
    offline pool"): the hub keeps ``target`` numbers on the node, drawn ahead from the
    courier's source and sent down while the node is online, so labels still print with the
    uplink down. Migration 0042_waybill_pool."""

    __tablename__ = "waybill_pool"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Our courier code; its numbers come from its ``waybill_source``.
    carrier: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[int] = mapped_column(Integer)
    #: How many numbers were ever asked for this pool: the next one's key.
    asked: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime]


class PoolWaybill(Base):
    """One number of a node's pool. States: ``pending`` (to draw), ``ready`` (drawn, to send),
    ``sent`` (in the node's pool), ``used`` (the node printed it on ``order_id``'s label; the
    order's own ``waybill`` row then carries it), ``failed`` (the courier refused the draw).
    Given back when the pool's target drops below what it holds (migration 0044):
    ``void`` (never drawn), ``releasing`` (the node was asked to give it back:
    ``waybill.pool_release``), ``cancel`` (the node confirmed, or never had it, or a lead gave it
    back by force: ``forced_at``; to cancel at the courier), ``cancelled``."""

    __tablename__ = "pool_waybill"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("cp_code", "waybill_code", name="uq_pool_waybill_code"),
        Index("ix_pool_waybill_pool", "account_id", "node_id", "carrier", "state"),
        Index("ix_pool_waybill_due", "state", "next_try_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    node_id: Mapped[str] = mapped_column(String(64))
    carrier: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    cp_code: Mapped[str] = mapped_column(String(32))
    #: "pool:<account>:<node>:<carrier>:<n>": also the package id and trade order sent, so a
    #: repeated call after a lost answer returns the same number.
    idempotency_key: Mapped[str] = mapped_column(String(200))
    waybill_code: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("sales_order.id"))
    #: The ``waybill.pool`` change that sent it (its ``batch``): when one of its numbers is
    #: used the change is sent again with those left, so a node that resyncs from the
    #: compacted downlink (a replaced store) never gets a used number back as free.
    batch: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    #: The courier's record of a used number corrected to the order's recipient
    #: (``cainiao.waybill.ii.update``): None, ``pending``, ``done``, ``failed`` (0044).
    recipient_state: Mapped[str | None] = mapped_column(String(16))
    #: When the node was asked for it back (``releasing``); the overdue task and the forced
    #: give-back count their wait from it (migration 0050, docs/channels.md "A node that
    #: never answers").
    asked_at: Mapped[datetime | None]
    #: When the scheduler opened the ``waybill_pool_overdue`` task for it (once per number).
    overdue_at: Mapped[datetime | None]
    #: Given back without the node's word (a lead's forced give-back): cancelled at the
    #: courier; a late ``waybill.pool_used`` of it is refused and opens a task.
    forced_at: Mapped[datetime | None]
    #: The ``waybill_pool_overdue`` task that counted it (migration 0054): the task closes by
    #: itself once none of its numbers is ``releasing`` (cloud/orders/pool_overdue.py).
    overdue_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", name="fk_pool_waybill_overdue_task")
    )
