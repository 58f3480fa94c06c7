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

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import Task
from cloud.errors import N_, DomainError, Sentence

Gettext = Callable[[str], str]


def _identity(text: str) -> str:
    return text


def _plain(value: Any) -> Any:
    """A parameter as JSON can keep it: sentences and lists as such, numbers as numbers,
    anything else (a Decimal, a date) as its text."""
    if isinstance(value, Sentence):  # a reason put into a refusal (cloud/errors.py)
        return {"msgid": value.msgid, "params": _plain_params(value.params)}
    if isinstance(value, Mapping):
        return {"msgid": str(value["msgid"]), "params": _plain_params(value.get("params"))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _plain_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in (params or {}).items()}


def sentence(msgid: str, /, **params: Any) -> dict[str, Any]:
    """A sentence to put inside a task's detail (a parameter), translated with it."""
    return {"msgid": msgid, "params": _plain_params(params)}


def said(err: Exception) -> dict[str, Any] | str:
    """What an error said: its message id and parameters when it is a domain refusal (so the
    page translates it), else its text."""
    if isinstance(err, DomainError) and err.msgid:
        return sentence(err.msgid, **err.params)
    return str(err)


def _value(value: Any, gettext: Gettext) -> Any:
    if isinstance(value, dict) and "msgid" in value:
        return say(str(value["msgid"]), value.get("params") or {}, gettext)
    if isinstance(value, list):
        return "; ".join(str(_value(v, gettext)) for v in value)
    # A word the catalogue knows (an order's status) is translated; codes and names have
    # no entry and stay as they are (as cloud.errors.translate does).
    return gettext(value) if isinstance(value, str) and value else value


def say(msgid: str, params: Mapping[str, Any], gettext: Gettext = _identity) -> str:
    """``msgid`` in the language of ``gettext`` with ``params`` put in; English (the
    identity) by default. A broken translation falls back to the English sentence."""
    text = gettext(msgid)
    try:
        values = {k: _value(v, gettext) for k, v in params.items()}
        return text % values if values else text
    except (KeyError, ValueError, TypeError):
        if gettext is _identity:
            raise  # the sentence itself is broken: a defect at the call site
        return say(msgid, params)


def detail_in(task: Task, gettext: Gettext) -> str:
    """A task's detail in the language of ``gettext``; an old task (no message id) as its
    English detail."""
    if not task.message:
        return task.detail
    return say(task.message, task.params or {}, gettext)


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
    kept = _plain_params(params)
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
