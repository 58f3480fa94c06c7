"""SQLAlchemy 2 tables of the hub. Schema changes go through Alembic (cloud/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's documented form
        int: BigInteger,
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Node(Base):
    """An edge node as the hub knows it: its cursor upstream and its presence."""

    __tablename__ = "node"
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(default=0)
    acked_through: Mapped[int] = mapped_column(default=0)
    down_head: Mapped[int] = mapped_column(default=0)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    software: Mapped[str | None] = mapped_column(String(200))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # As the node last reported them in its retained status (NodeState).
    last_seq: Mapped[int | None]
    backlog: Mapped[int | None]
    oldest_unacked_age_s: Mapped[float | None] = mapped_column(Float)
    alarm: Mapped[str | None] = mapped_column(String(300))
    status_at: Mapped[datetime | None]
    #: Creation (HLC) to cloud commit of the newest event applied, when the node's clock is sane.
    sync_lag_ms: Mapped[int | None]


class Event(Base):
    """Every edge event applied, exactly once per (node, seq)."""

    __tablename__ = "event"
    node_id: Mapped[str] = mapped_column(ForeignKey("node.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    epoch: Mapped[int]
    hlc: Mapped[int]
    type: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    #: The node's clock was far from the hub's when it wrote this event.
    clock_suspect: Mapped[bool] = mapped_column(Boolean, default=False)


class ParkedEvent(Base):
    """An event whose place in the stream is known but whose content is bad: kept for review."""

    __tablename__ = "parked_event"
    node_id: Mapped[str] = mapped_column(ForeignKey("node.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    raw: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class IngestRejection(Base):
    """A message on an ingest topic that could not be placed at all (counted, never silent)."""

    __tablename__ = "ingest_rejection"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(300))
    node_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    size: Mapped[int]
    received_at: Mapped[datetime]


class Sku(Base):
    __tablename__ = "sku"
    sku_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    weight_g: Mapped[int | None]
    updated_at: Mapped[datetime]


class Barcode(Base):
    __tablename__ = "barcode"
    barcode: Mapped[str] = mapped_column(String(128), primary_key=True)
    sku_code: Mapped[str] = mapped_column(
        ForeignKey("sku.sku_code", ondelete="CASCADE"), index=True
    )


class Downlink(Base):
    """Changes for one node in its own downlink sequence (cloud -> edge)."""

    __tablename__ = "downlink"
    node_id: Mapped[str] = mapped_column(ForeignKey("node.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
