"""/tasks: what needs a human (conflicting edge facts, short picks, variances)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cloud import facts, tasks
from cloud.api.deps import PublicId, SessionDep, TasksRead, TasksWrite
from cloud.api.schemas import ResolveIn, TaskOut

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


@router.get("")
def list_tasks(
    session: SessionDep,
    who: TasksRead,
    status: Literal["open", "done"] | None = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    kind: Annotated[str | None, Query(max_length=32, description="e.g. count_variance")] = None,
) -> list[TaskOut]:
    return [
        TaskOut.model_validate(t, from_attributes=True)
        for t in tasks.list_tasks(session, who.account_id, status, limit, offset, kind)
    ]


@router.post("/{task_id}/resolve")
def resolve(
    task_id: PublicId,
    body: ResolveIn,
    session: SessionDep,
    who: TasksWrite,
) -> TaskOut:
    """Close a task. An action that books needs the scope of what it books (approving a
    count variance: ``stock:write``; cloud/facts/resolve.py ACTION_SCOPES), else 403."""
    t = facts.resolve_task(
        session,
        who.account_id,
        task_id,
        body.resolution,
        who.actor,
        datetime.now(UTC),
        approve=body.approve,
        scopes=who.scopes,
    )
    return TaskOut.model_validate(t, from_attributes=True)
