"""audit decisions: a reason's message id and parameters, so the pages say it in their language

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-06 19:45:00

Issue 15 ("zh_CN complete"): ``order_decision.reason`` kept only the English the audit
composed ("seller chose SF", "buyer remark needs a human: 请发顺丰"). ``message`` is its
gettext message id and ``params`` (JSON) what goes into it (cloud/orders/audit_rules.py
``Decision``); ``reason`` stays, the English the API answers. As migration 0038 did for
tasks, both columns are nullable and old rows stay readable: the English of a row written
before is given a message id where it parses as one of the reasons below (the texts the
audit wrote before this revision, frozen here, not imported); any other row keeps its
English as it is and the page shows that.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

#: Reasons without parameters, written as they are (their own message id).
_FIXED = ("stock reserved", "no buyer remark", "prices at or above minimum")
#: (LIKE prefix for the database, the English as the audit wrote it, its message id).
_PARSED: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "buyer remark needs a human: %",
        re.compile(r"buyer remark needs a human: (?P<remark>.*)", re.S),
        "buyer remark needs a human: %(remark)s",
    ),
    (
        "seller chose %",
        re.compile(r"seller chose (?P<carrier>[^\s,]+)"),
        "seller chose %(carrier)s",
    ),
    (
        "address parsed as %",
        re.compile(
            r"address parsed as (?P<province>\S+) (?P<city>\S+) (?P<district>\S+)"
            r" \(adcode (?P<adcode>\S+)\)"
        ),
        "address parsed as %(province)s %(city)s %(district)s (adcode %(adcode)s)",
    ),
    (
        "no courier rule gives %",
        re.compile(
            r"no courier rule gives a carrier that reaches (?P<province>\S+) (?P<city>\S+)"
            r" (?P<address>.*)",
            re.S,
        ),
        "no courier rule gives a carrier that reaches %(province)s %(city)s %(address)s",
    ),
    (
        "street address too short",
        re.compile(r"street address too short"),
        "street address too short",
    ),
)
#: Rows read and written per round: a hub with years of decisions is not held in memory.
_BATCH = 5000

_T = sa.table(
    "order_decision",
    sa.column("id", sa.Integer()),
    sa.column("reason", sa.Text()),
    sa.column("message", sa.Text()),
    sa.column("params", sa.JSON()),
)


def parse(reason: str) -> tuple[str, dict[str, Any] | None] | None:
    """The message id and parameters of an English reason written before 0046, or None."""
    if reason in _FIXED:
        return reason, None
    for _, pattern, message in _PARSED:
        m = pattern.fullmatch(reason)
        if m:
            return message, m.groupdict() or None
    return None


def upgrade() -> None:
    op.add_column("order_decision", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("order_decision", sa.Column("params", sa.JSON(), nullable=True))
    bind = op.get_bind()
    bind.execute(_T.update().where(_T.c.reason.in_(_FIXED)).values(message=_T.c.reason))
    known = sa.or_(*(_T.c.reason.like(prefix) for prefix, _, _ in _PARSED))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_T.c.id, _T.c.reason)
            .where(_T.c.id > last, _T.c.message.is_(None), known)
            .order_by(_T.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        found = [(row.id, parse(row.reason)) for row in rows]
        updates = [
            {"rid": rid, "m": said[0], "p": said[1]} for rid, said in found if said is not None
        ]
        if updates:
            bind.execute(
                _T.update()
                .where(_T.c.id == sa.bindparam("rid"))
                .values(message=sa.bindparam("m"), params=sa.bindparam("p", type_=sa.JSON())),
                updates,
            )


def downgrade() -> None:
    with op.batch_alter_table("order_decision") as batch:
        batch.drop_column("params")
        batch.drop_column("message")
