"""Tasks for humans: what the hub will not decide alone (docs/sync.md "Conflicts").

Opening and listing them. Closing one is :func:`cloud.facts.resolve_task`: approving a
count variance books the count, which is the facts' business (and facts opens tasks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import Task


def open_task(
    session: Session,
    account_id: int,
    kind: str,
    detail: str,
    now: datetime,
    *,
    order_no: str | None = None,
    node_id: str | None = None,
    event_id: str | None = None,
) -> Task:
    t = Task(
        account_id=account_id,
        kind=kind,
        detail=detail[:4000],
        order_no=order_no,
        node_id=node_id,
        event_id=event_id,
        status="open",
        created_at=now,
    )
    session.add(t)
    return t


def list_tasks(
    session: Session,
    account_id: int,
    status: str | None,
    limit: int,
    offset: int,
    kind: str | None = None,
) -> list[Task]:
    q = select(Task).where(Task.account_id == account_id)
    if status is not None:
        q = q.where(Task.status == status)
    if kind is not None:
        q = q.where(Task.kind == kind)
    return list(session.execute(q.order_by(Task.id).limit(limit).offset(offset)).scalars())


def count_by_kind(session: Session, account_id: int, status: str | None) -> dict[str, int]:
    """How many tasks of each kind (the queue's filter shows them), most first."""
    q = select(Task.kind, func.count()).where(Task.account_id == account_id)
    if status is not None:
        q = q.where(Task.status == status)
    rows = [(str(k), int(n)) for k, n in session.execute(q.group_by(Task.kind))]
    return dict(sorted(rows, key=lambda r: (-r[1], r[0])))
