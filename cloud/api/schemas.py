"""Response models of the API (request models come from protocol where they are shared)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    mqtt: Literal["connected", "disconnected", "disabled"]
    version: str


class NodeOut(BaseModel):
    node_id: str
    epoch: int
    acked_through: int
    down_head: int
    online: bool
    software: str | None
    first_seen: datetime
    last_seen: datetime
    last_seq: int | None
    backlog: int | None
    oldest_unacked_age_s: float | None
    alarm: str | None
    status_at: datetime | None
    sync_lag_ms: int | None


class EventOut(BaseModel):
    node_id: str
    seq: int
    event_id: str
    epoch: int
    hlc: int
    type: str
    payload: dict[str, Any]
    received_at: datetime
    clock_suspect: bool


class SkuOut(BaseModel):
    sku_code: str
    name: str
    weight_g: int | None
    barcodes: list[str]


class RejectionOut(BaseModel):
    topic: str
    node_id: str | None
    reason: str
    size: int
    received_at: datetime


class ParkedOut(BaseModel):
    node_id: str
    seq: int
    reason: str
    raw: dict[str, Any]
    received_at: datetime


class IngestReport(BaseModel):
    connected: bool
    batches: int
    events: int
    duplicates: int
    gaps: int
    parked: int
    rejected_total: int
    rejected_by_reason: dict[str, int]
    recent_rejections: list[RejectionOut]
    parked_events: list[ParkedOut]
