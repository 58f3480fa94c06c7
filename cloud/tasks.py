"""Tasks for humans: what the hub will not decide alone (docs/sync.md "Conflicts").

Opening and listing them. Closing one is :func:`cloud.facts.resolve_task`: approving a
count variance books the count, which is the facts' business (and facts opens tasks).

A task's detail is a sentence as a domain refusal is (cloud/errors.py): a gettext message id
marked ``N_("… %(x)s …")`` and its named parameters, kept in ``task.message`` and
``task.params``; ``task.detail`` keeps the English text, which the API answers as it always
has. The pages say it again in their language (:func:`detail_in`). A parameter may itself
be a sentence (:func:`said`: the refusal that stopped a booking) or a list of them, so a
nested reason is translated too. Tasks opened before migration 0038 have no message id and
are shown as their English detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import Task
from cloud.errors import N_, DomainError, Sentence, plain_params

# A sentence kept as JSON and said in a page's language: cloud/errors.py, where the ledger
# reaches it too; kept importable from here as before.
from cloud.errors import Gettext as Gettext
from cloud.errors import say as say
from cloud.errors import sentence as sentence


def said(err: Exception) -> dict[str, Any] | str:
    """What an error said: its message id and parameters when it is a domain refusal (so the
    page translates it), else its text."""
    if isinstance(err, DomainError) and err.msgid:
        return sentence(err.msgid, **err.params)
    return str(err)


def detail_in(task: Task, gettext: Gettext) -> str:
    """A task's detail in the language of ``gettext``; an old task (no message id) as its
    English detail."""
    if not task.message:
        return task.detail
    return say(task.message, task.params or {}, gettext)


def resolution_in(task: Task, gettext: Gettext) -> str:
    """How a task was resolved, in the language of ``gettext`` when the hub wrote it (a task
    that closed by itself: ``resolution_message``, migration 0054); a person's words as typed."""
    if task.resolution_message:
        return say(task.resolution_message, task.resolution_params or {}, gettext)
    return task.resolution or ""


def open_task(
    session: Session,
    account_id: int,
    kind: str,
    message: str,
    now: datetime,
    *,
    params: Mapping[str, Any] | None = None,
    order_no: str | None = None,
    node_id: str | None = None,
    event_id: str | None = None,
) -> Task:
    """``message``: an ``N_`` sentence with ``%(name)s`` placeholders, ``params`` their values."""
    kept = plain_params(params)
    t = Task(
        account_id=account_id,
        kind=kind,
        detail=say(message, kept)[:4000],
        message=message,
        params=kept or None,
        order_no=order_no,
        node_id=node_id,
        event_id=event_id,
        status="open",
        created_at=now,
    )
    session.add(t)
    return t


#: The task a booking made with a logged override opens (cloud/stock/ledger.py
#: ``post_as_happened``): a person counts the bin and corrects the book.
STOCK_VARIANCE = "stock_variance"


def open_override_task(
    session: Session,
    account_id: int,
    what: Mapping[str, Any] | Sentence,
    why: Sentence | None,
    now: datetime,
    *,
    node_id: str | None = None,
    order_no: str | None = None,
) -> Task | None:
    """The ``stock_variance`` task of a booking the ledger made with an override (``why``
    not None); ``what`` is the booking, a sentence (:func:`sentence`). Nothing when ``why``
    is None."""
    if why is None:
        return None
    return open_task(
        session,
        account_id,
        STOCK_VARIANCE,
        N_("%(what)s booked with override: %(why)s"),
        now,
        params={"what": what, "why": why},
        order_no=order_no,
        node_id=node_id,
    )


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
