"""Why a held order is held, as the dashboard says it: each reason with its message id.

The API answers a hold reason in English (``hold_reason``); the pages say it in the reader's
language from the decisions and history lines it was made of (``hold_said``), one order on
its page or a whole list at once in the audit queue (``holds_said``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from cloud.db.engine import Statements, dialect_of, in_param, in_value
from cloud.db.models import OrderDecision, OrderLog, SalesOrder
from cloud.orders.views import LOG_SAID_FIELDS, SAID_FIELDS

_O = SalesOrder.__table__.c
_D = OrderDecision.__table__.c
_H = OrderLog.__table__.c


def hold_said(
    hold_reason: str | None,
    decisions: Sequence[dict[str, Any]],
    history: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """What an order's hold reason was made of, each with its message id and parameters: the
    holds of its latest audit, when their English joined is the hold reason (arrival.py,
    workflow.save write it so); else the newest hold line of its ``history`` that says it
    (a merge's holds, an e-waybill or offline waybill refused: migration 0048). A hold a
    person typed matches none (its line has no message id): the page shows it as typed."""
    if not hold_reason:
        return []
    holds = [d for d in decisions if d["outcome"] == "hold"]
    last = [d for d in holds if d["created_at"] == holds[-1]["created_at"]] if holds else []
    # A manual save leaves the remark out of the hold: the auditor is reading it.
    for said in (last, [d for d in last if d["check"] != "remark"]):
        if said and "; ".join(d["reason"] for d in said)[:300] == hold_reason:
            return said
    for h in reversed(history):
        if h["action"] == "hold" and h.get("message") and (h["reason"] or "")[:300] == hold_reason:
            return [h]
    return []


def _said_rows(dialect: str, kind: Hashable) -> Executable:
    """An account's orders' hold decisions (``kind`` "decisions") or hold history lines with
    a message ("history"), by order number, in id order: built once per dialect (issue 20:
    building both per audit-queue render was ~15 % of that page, docs/benchmarks.md "S35")."""
    table, fields, where = (
        (_D, SAID_FIELDS, (_D.outcome == "hold",))
        if kind == "decisions"
        else (_H, LOG_SAID_FIELDS, (_H.action == "hold", _H.message.is_not(None)))
    )
    return (
        select(_O.order_no, *(table[f] for f in fields))
        .join(SalesOrder.__table__, _O.id == table.order_id)
        .where(
            _O.account_id == bindparam("account"),
            in_param(dialect, _O.order_no, "order_nos"),
            *where,
        )
        .order_by(table.id)
    )


_SAID_ROWS = Statements(_said_rows)


def _by_order(
    session: Session, account_id: int, order_nos: list[str], kind: str, fields: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The rows of :func:`_said_rows` as ``fields`` mappings, for each of the orders."""
    out: dict[str, list[dict[str, Any]]] = {no: [] for no in order_nos}
    bound = {"account": account_id, "order_nos": in_value(dialect_of(session), order_nos)}
    for no, *values in session.execute(_SAID_ROWS.get(session, kind), bound):
        out[no].append(dict(zip(fields, values, strict=True)))
    return out


def holds_said(
    session: Session, account_id: int, rows: Sequence[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """:func:`hold_said` for the held orders of a list (one query for the page)."""
    held = {r["order_no"]: r["hold_reason"] for r in rows if r.get("on_hold")}
    if not held:
        return {}
    found = _by_order(session, account_id, list(held), "decisions", SAID_FIELDS)
    lines = _by_order(session, account_id, list(held), "history", LOG_SAID_FIELDS)
    return {no: hold_said(held[no], ds, lines[no]) for no, ds in found.items()}
