"""Tasks: the human queue (count variances to approve, conflicting edge facts, short picks,
weight holds) with approve / resolve, as the API's /tasks (cloud/api/tasks.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cloud import facts, tasks
from cloud.api.deps import PublicId, SessionDep
from cloud.api.order_filter import Blank
from cloud.api.schemas import ResolveIn
from cloud.inbound import serial_conflicts
from cloud.web import i18n, refusals
from cloud.web.deps import TasksAction, TasksPage
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/tasks")


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def task_list(
    request: Request,
    user: TasksPage,
    session: SessionDep,
    status: Literal["open", "done"] = "open",
    kind: Annotated[str | None, Blank, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    """The queue, one kind at a time if asked (count variances, conflicting facts, short
    picks, weight holds…), with how many of each kind there are."""
    account = user.who.account_id
    rows = tasks.list_tasks(session, account, status, 101, page * 100, kind)
    gettext = i18n.translations(locale_of(request)).gettext
    return render(
        request,
        "tasks.html",
        {
            "tasks": rows[:100],
            # Each detail in the page's language (an old task's in its English).
            "details": [tasks.detail_in(t, gettext) for t in rows[:100]],
            # A resolution the hub wrote in the page's language; a person's as typed.
            "resolutions": [tasks.resolution_in(t, gettext) for t in rows[:100]],
            # A serial received twice is decided on its trace (its two buttons).
            "serials": [serial_conflicts.serial_of(t) for t in rows[:100]],
            # Any other serial conflict (one that left twice) links the trace it is about.
            "traces": [serial_conflicts.traced(t) for t in rows[:100]],
            "more": len(rows) > 100,
            "status": status,
            "kind": kind or "",
            "kinds": tasks.count_by_kind(session, account, status),
            "page": page,
        },
        user=user,
    )


@router.post("/{task_id}", include_in_schema=False)
async def resolve(
    request: Request, task_id: PublicId, user: TasksAction, session: SessionDep
) -> Response:
    form = await request.form()
    decision = str(form.get("approve", ""))
    try:
        body = ResolveIn(
            resolution=str(form.get("resolution", "")).strip(),
            approve={"yes": True, "no": False}.get(decision),
        )
    except ValidationError as err:
        raise refusals.invalid(request, err) from err

    def run() -> None:
        facts.resolve_task(
            session,
            user.who.account_id,
            task_id,
            body.resolution,
            user.who.actor,
            datetime.now(UTC),
            approve=body.approve,
            scopes=user.who.scopes,
        )

    await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/tasks?done=1", status_code=303)
