"""Nodes, their events and the ingest report (the sync as a seller sees it); and /health.

Handlers validate, call the domain, and shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import func, select, text

from cloud.api.deps import IngestDep, NodesRead, NodesWrite, SessionDep
from cloud.api.schemas import (
    ClaimIn,
    ClaimOut,
    EventOut,
    Health,
    IngestReport,
    NodeOut,
    NodeSampleOut,
    ParkedOut,
    RejectionOut,
)
from cloud.db.models import Event, IngestRejection, Node, ParkedEvent
from cloud.nodes import history, ownership
from protocol.messages import MAX_SEQ

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
        status="ok" if ok else "degraded",
        database=db,
        mqtt=mqtt,
        version=version("guanjia"),
        partitions=None if ingest is None else len(ingest.stats.partitions),
    )


@router.get("/nodes", tags=["sync"])
def list_nodes(session: SessionDep, who: NodesRead) -> list[NodeOut]:
    nodes = session.execute(
        select(Node).where(ownership.owned_by(who.account_id)).order_by(Node.node_id)
    ).scalars()
    return [NodeOut.model_validate(n, from_attributes=True) for n in nodes]


@router.get("/nodes/{node_id}", tags=["sync"])
def get_node(node_id: str, session: SessionDep, who: NodesRead) -> NodeOut:
    node = session.execute(
        select(Node).where(Node.node_id == node_id, ownership.owned_by(who.account_id))
    ).scalar_one_or_none()
    if node is None:
        # Another account's node and no node at all: one answer (cloud/nodes/ownership.py).
        raise ownership.UnknownNode(node_id)
    return NodeOut.model_validate(node, from_attributes=True)


@router.get("/nodes/{node_id}/history", tags=["sync"])
def node_history(
    node_id: str,
    session: SessionDep,
    who: NodesRead,
    since: Annotated[
        datetime | None,
        Query(description="From this instant on (RFC 3339; UTC if no offset); 24 h ago if absent"),
    ] = None,
) -> list[NodeSampleOut]:
    """The node's samples of backlog, oldest unacked age and lag, oldest first: one a minute
    at most, kept ``GUANJIA_NODE_SAMPLE_RETENTION_DAYS`` (14 by default; docs/sync.md)."""
    get_node(node_id, session, who)  # 404 for no node and for another account's, alike
    start = datetime.now(UTC) - timedelta(hours=24) if since is None else since
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return [
        NodeSampleOut.model_validate(r, from_attributes=True)
        for r in history.samples(session, node_id, start)
    ]


@router.post("/nodes/claim", tags=["sync"], status_code=status.HTTP_201_CREATED)
def claim_node(body: ClaimIn, session: SessionDep, who: NodesWrite) -> ClaimOut:
    """Make the node that waits for this one-time claim code the caller's account's.

    The code was printed when the operator enrolled the node without an account
    (``guanjia node enroll NODE``); it works once and expires (docs/sync.md, "Who owns a
    node"). An unknown, used or expired code answers 404, all alike.
    """
    now = datetime.now(UTC)
    node_id = ownership.claim(session, who.account_id, body.code, who.actor, now)
    return ClaimOut(node_id=node_id, claimed_by=who.actor, claimed_at=now)


@router.get("/events", tags=["sync"])
def list_events(
    session: SessionDep,
    who: NodesRead,
    node: str | None = None,
    type: str | None = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Limit = 100,
) -> list[EventOut]:
    """Events as stored, per node in seq order (``after`` pages through one node's stream)."""
    mine = select(Node.node_id).where(ownership.owned_by(who.account_id))
    q = select(Event).where(Event.seq > after, Event.node_id.in_(mine))
    if node is not None:
        q = q.where(Event.node_id == node)
    if type is not None:
        q = q.where(Event.type == type)
    rows = session.execute(q.order_by(Event.node_id, Event.seq).limit(limit)).scalars()
    return [EventOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/ingest", tags=["sync"])
def ingest_report(
    session: SessionDep, ingest: IngestDep, who: NodesRead, limit: Limit = 20
) -> IngestReport:
    """What ingest could not use from the caller's account's nodes: rejected or parked.

    Per account only, as ``/nodes`` and ``/events``: the parked events (raw payloads) and
    the rejections of the nodes the account may see. A rejection that names no node, or a
    node that is not the account's (unknown, unparseable topic), is shown to no one here:
    any account's user could otherwise read what another's node sent. The worker's
    process-wide counters (batches, events, duplicates, gaps) mix every account's nodes and
    there is no hub-wide admin role to show them to, so they are not in this answer; the
    operator has the worker's log and the ``ingest_rejection`` table. ``connected`` is the
    hub's broker connection, the same for everyone (as ``/health`` shows it).
    """
    mine = select(Node.node_id).where(ownership.owned_by(who.account_id))
    by_reason = dict(
        session.execute(
            select(IngestRejection.reason, func.count())
            .where(IngestRejection.node_id.in_(mine))
            .group_by(IngestRejection.reason)
        ).all()
    )
    recent = session.execute(
        select(IngestRejection)
        .where(IngestRejection.node_id.in_(mine))
        .order_by(IngestRejection.id.desc())
        .limit(limit)
    ).scalars()
    open_parked = (ParkedEvent.resolved.is_(False), ParkedEvent.node_id.in_(mine))
    parked_total = session.execute(
        select(func.count()).select_from(ParkedEvent).where(*open_parked)
    ).scalar_one()
    parked = session.execute(
        select(ParkedEvent).where(*open_parked).order_by(ParkedEvent.received_at).limit(limit)
    ).scalars()
    return IngestReport(
        connected=bool(ingest is not None and ingest.stats.connected),
        parked_total=parked_total,
        rejected_total=sum(by_reason.values()),
        rejected_by_reason=by_reason,
        recent_rejections=[RejectionOut.model_validate(r, from_attributes=True) for r in recent],
        parked_events=[ParkedOut.model_validate(p, from_attributes=True) for p in parked],
    )
