"""Routes of /api/v1. Handlers validate, call the domain, and shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select, text

from cloud import catalogue
from cloud.api.deps import IngestDep, SessionDep
from cloud.api.schemas import (
    EventOut,
    Health,
    IngestReport,
    NodeOut,
    ParkedOut,
    RejectionOut,
    SkuOut,
)
from cloud.models import Event, IngestRejection, Node, ParkedEvent
from protocol.messages import MAX_SEQ, CatalogueUpsert

router = APIRouter(prefix="/api/v1")
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/health", tags=["ops"])
def health(session: SessionDep, ingest: IngestDep) -> Health:
    try:
        session.execute(text("SELECT 1"))
        db = "ok"
    except Exception:  # any database failure is reported, not raised: this is the health probe
        db = "error"
    mqtt = (
        "disabled"
        if ingest is None
        else ("connected" if ingest.stats.connected else "disconnected")
    )
    ok = db == "ok" and mqtt != "disconnected"
    return Health(
        status="ok" if ok else "degraded", database=db, mqtt=mqtt, version=version("guanjia")
    )  # type: ignore[arg-type]


@router.get("/nodes", tags=["sync"])
def list_nodes(session: SessionDep) -> list[NodeOut]:
    nodes = session.execute(select(Node).order_by(Node.node_id)).scalars()
    return [NodeOut.model_validate(n, from_attributes=True) for n in nodes]


@router.get("/nodes/{node_id}", tags=["sync"])
def get_node(node_id: str, session: SessionDep) -> NodeOut:
    node = session.get(Node, node_id)
    if node is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node {node_id!r}")
    return NodeOut.model_validate(node, from_attributes=True)


@router.get("/events", tags=["sync"])
def list_events(
    session: SessionDep,
    node: str | None = None,
    type: str | None = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Limit = 100,
) -> list[EventOut]:
    """Events as stored, per node in seq order (``after`` pages through one node's stream)."""
    q = select(Event).where(Event.seq > after)
    if node is not None:
        q = q.where(Event.node_id == node)
    if type is not None:
        q = q.where(Event.type == type)
    rows = session.execute(q.order_by(Event.node_id, Event.seq).limit(limit)).scalars()
    return [EventOut.model_validate(r, from_attributes=True) for r in rows]


@router.put("/skus/{sku_code}", tags=["catalogue"])
def put_sku(sku_code: str, body: CatalogueUpsert, session: SessionDep, ingest: IngestDep) -> SkuOut:
    """Create or replace a SKU with its barcodes; edges receive it through their downlink."""
    if body.sku_code != sku_code:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "sku_code in the path and the body differ"
        )
    pushes = catalogue.upsert_sku(session, body, datetime.now(UTC))
    session.commit()  # commit before telling anyone: the push must never outrun the data
    if ingest is not None:
        ingest.push_downlink(pushes)
    return SkuOut(
        sku_code=body.sku_code, name=body.name, weight_g=body.weight_g, barcodes=body.barcodes
    )


@router.get("/skus", tags=["catalogue"])
def get_skus(
    session: SessionDep, limit: Limit = 100, offset: Annotated[int, Query(ge=0)] = 0
) -> list[SkuOut]:
    return [
        SkuOut(sku_code=s.sku_code, name=s.name, weight_g=s.weight_g, barcodes=b)
        for s, b in catalogue.list_skus(session, limit, offset)
    ]


@router.get("/ingest", tags=["sync"])
def ingest_report(session: SessionDep, ingest: IngestDep, limit: Limit = 20) -> IngestReport:
    """What ingest did, and every message it could not use (rejected) or parked."""
    by_reason = dict(
        session.execute(
            select(IngestRejection.reason, func.count()).group_by(IngestRejection.reason)
        ).all()
    )
    recent = session.execute(
        select(IngestRejection).order_by(IngestRejection.id.desc()).limit(limit)
    ).scalars()
    parked = session.execute(
        select(ParkedEvent)
        .where(ParkedEvent.resolved.is_(False))
        .order_by(ParkedEvent.received_at)
        .limit(limit)
    ).scalars()
    st = ingest.stats if ingest is not None else None
    return IngestReport(
        connected=bool(st and st.connected),
        batches=st.batches if st else 0,
        events=st.events if st else 0,
        duplicates=st.duplicates if st else 0,
        gaps=st.gaps if st else 0,
        parked=st.parked if st else 0,
        rejected_total=sum(by_reason.values()),
        rejected_by_reason=by_reason,
        recent_rejections=[RejectionOut.model_validate(r, from_attributes=True) for r in recent],
        parked_events=[ParkedOut.model_validate(p, from_attributes=True) for p in parked],
    )
