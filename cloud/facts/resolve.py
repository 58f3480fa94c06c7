"""Closing a task the facts opened (the API's and the tasks page's one write path), with the
scopes an action that books needs."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Task
from cloud.errors import N_, ConflictError, ForbiddenError, InvalidError, NotFoundError
from cloud.facts.counts import COUNT_VARIANCE, approve_count

#: The scopes closing a task needs beyond ``tasks:write``, by (kind, action), because of what
#: the action books: approving a count variance books stock adjustments, which
#: ``POST /stock/adjustments`` guards with ``stock:write`` (issue 13, finding 2; OWASP
#: API5:2023 broken function level authorization). Every other (kind, action) only closes
#: the task with a note and books nothing: ``stock_variance``, ``unknown_order``,
#: ``fact_conflict``, ``pick_exception``, ``weight``, ``carrier_mismatch``, ``stocktake``,
#: ``pick_lease_conflict``, ``shipment_conflict``, and a count variance rejected
#: (``approve: false``). A new action that books must be added here.
ACTION_SCOPES: Final[dict[tuple[str, str], tuple[frozenset[str], str]]] = {
    (COUNT_VARIANCE, "approve"): (frozenset({"stock:write"}), "books stock adjustments"),
}


def _action(kind: str, approve: bool | None) -> str:
    return "approve" if kind == COUNT_VARIANCE and approve else "close"


def resolve_task(
    session: Session,
    account_id: int,
    task_id: str,
    resolution: str,
    actor: str,
    now: datetime,
    approve: bool | None = None,
    *,
    scopes: frozenset[str],
) -> Task:
    """Close a task. A count variance needs a decision: ``approve`` books its adjustments
    (a compensating movement each, never an edit), ``approve=False`` books nothing.

    ``scopes``: the caller's; an action that books needs the scopes of what it books
    (:data:`ACTION_SCOPES`), else :class:`ForbiddenError` and nothing changes."""
    t = session.execute(
        select(Task).where(Task.public_id == task_id).with_for_update()
    ).scalar_one_or_none()
    if t is None or t.account_id != account_id:
        raise NotFoundError(N_("no task %(task)s"), task=task_id)
    needed = ACTION_SCOPES.get((t.kind, _action(t.kind, approve)))
    if needed is not None:
        missing = sorted(needed[0] - scopes)
        if missing:
            raise ForbiddenError(
                N_(
                    "approving %(kind)s task %(task)s %(does)s, which needs the scope"
                    " %(scopes)s; this login lacks it (ask a warehouse lead)"
                ),
                kind=t.kind.replace("_", " "),
                task=task_id,
                does=needed[1],
                scopes=", ".join(missing),
            )
    if t.status == "done":
        raise ConflictError(
            N_("task %(task)s was resolved already by %(who)s"), task=task_id, who=t.resolved_by
        )
    if t.kind == "count_variance":
        if approve is None:
            raise InvalidError(
                N_("a count variance is resolved with approve: true (book it) or false")
            )
        if approve:
            n = approve_count(session, t, actor, now)
            resolution = f"approved, {n} adjustment(s) booked: {resolution}"
        else:
            resolution = f"rejected, nothing booked: {resolution}"
    t.status, t.resolution, t.resolved_by, t.resolved_at = "done", resolution, actor, now
    return t
