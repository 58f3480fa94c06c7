"""Tasks for humans: what the hub will not decide alone (docs/sync.md "Conflicts")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.errors import ConflictError, InvalidError, NotFoundError
from cloud.models import Task


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
    session: Session, account_id: int, status: str | None, limit: int, offset: int
) -> list[Task]:
    q = select(Task).where(Task.account_id == account_id)
    if status is not None:
        q = q.where(Task.status == status)
    return list(session.execute(q.order_by(Task.id).limit(limit).offset(offset)).scalars())


def resolve(
    session: Session,
    account_id: int,
    task_id: int,
    resolution: str,
    actor: str,
    now: datetime,
    approve: bool | None = None,
) -> Task:
    """Close a task. A count variance needs a decision: ``approve`` books its adjustments
    (a compensating movement each, never an edit), ``approve=False`` books nothing."""
    t = session.execute(
        select(Task).where(Task.id == task_id).with_for_update()
    ).scalar_one_or_none()
    if t is None or t.account_id != account_id:
        raise NotFoundError(f"no task {task_id}")
    if t.status == "done":
        raise ConflictError(f"task {task_id} was resolved already by {t.resolved_by}")
    if t.kind == "count_variance":
        if approve is None:
            raise InvalidError("a count variance is resolved with approve: true (book it) or false")
        if approve:
            from cloud import facts  # facts opens tasks: imported here, not at the top

            n = facts.approve_count(session, t, actor, now)
            resolution = f"approved, {n} adjustment(s) booked: {resolution}"
        else:
            resolution = f"rejected, nothing booked: {resolution}"
    t.status, t.resolution, t.resolved_by, t.resolved_at = "done", resolution, actor, now
    return t
