"""history lines: a message id and parameters, so the pages say them in their language

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-06 23:10:00

Issue 15 ("zh_CN complete"): an order's history (``order_log.reason``) and an after-sales
request's (``aftersales_log.reason``) kept only the English the hub composed ("merged into
JY2", "pick lease wh1-pick-1 → wh1-pick-2: 坏了", "no pick node known"). ``message`` is its
gettext message id and ``params`` (JSON) what goes into it (cloud/orders/reasons.py
``written``), as migration 0046 did for the audit's decisions; ``reason`` stays, the English
the API answers. A person's words (a hold's, a rejection's reason) have no message id: the
pages show them as typed.

Old rows are given a message id where their English parses as one of the lines below (the
texts the hub wrote before this revision, frozen here, not imported), and only for the
actions that wrote them: the reason of an action a person gives (reject, cancel, the
reversals, unhold) is never parsed, whatever it says. Any other row keeps its English as it
is and the page shows that: a manual save's joined audit reasons, a merge's joined holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

Said = dict[str, Any]
#: Rows read and written per round: a hub with years of history is not held in memory.
_BATCH = 5000
#: Actions whose reason is what a person typed: kept as typed, never parsed.
_TYPED = ("unhold", "reject", "cancel", "cancel_outbound", "reverse_outbound", "approve")
_COMMA = "%(head)s, %(tail)s"


def _s(msgid: str, **params: Any) -> Said:
    return {"msgid": msgid, "params": params}


def _commas(parts: list[Said]) -> Said:
    out = parts[-1]
    for part in reversed(parts[:-1]):
        out = _s(_COMMA, head=part, tail=out)
    return out


def _release(m: re.Match[str]) -> Said:
    parts = [_s("wave %(wave)s", wave=m["wave"])] if m["wave"] is not None else []
    if m["carrier"] is not None:
        parts.append(
            _s("waybill to draw from %(carrier)s's e-waybill service", carrier=m["carrier"])
        )
    parts.append(
        _s("pick node %(node)s", node=m["node"]) if m["node"] else _s("no pick node known")
    )
    return _commas(parts)


def _lease(m: re.Match[str]) -> Said:
    if m["old"] == "none":
        return _s("pick lease none → %(node)s: %(reason)s", node=m["node"], reason=m["reason"])
    return _s(
        "pick lease %(old)s → %(node)s: %(reason)s",
        old=m["old"],
        node=m["node"],
        reason=m["reason"],
    )


_EDIT_PART = re.compile(r"warehouse → (?P<w>\S+)|seller_carrier → (?P<c>\S+)|seller_note|recipient")


def _edit(text: str) -> Said | None:
    """A patch's changes, joined by ", " ("warehouse → WH2, seller_note")."""
    if text == "no change":
        return _s("no change")
    parts = []
    for part in text.split(", "):
        m = _EDIT_PART.fullmatch(part)
        if m is None:
            return None
        if m["w"]:
            parts.append(_s("warehouse → %(warehouse)s", warehouse=m["w"]))
        elif m["c"]:
            parts.append(_s("seller_carrier → %(carrier)s", carrier=m["c"]))
        else:
            parts.append(_s(part))
    return _commas(parts)


def _named(msgid: str) -> Callable[[re.Match[str]], Said]:
    return lambda m: _s(msgid, **m.groupdict())


#: (action or None for any, the English as the hub wrote it, the sentence it is).
_ORDER: tuple[tuple[str | None, re.Pattern[str], Callable[[re.Match[str]], Said | None]], ...] = (
    ("create", re.compile(r"manual order"), lambda m: _s("manual order")),
    ("create", re.compile(r"(?P<channel>\S+) order"), _named("%(channel)s order")),
    ("confirm", re.compile(r"all checks passed"), lambda m: _s("all checks passed")),
    ("split", re.compile(r"split from (?P<order>\S+)"), _named("split from %(order)s")),
    ("split", re.compile(r"lines moved to (?P<order>\S+)"), _named("lines moved to %(order)s")),
    ("merge", re.compile(r"merged into (?P<order>\S+)"), _named("merged into %(order)s")),
    ("merge", re.compile(r"merged (?P<orders>\S.*)"), _named("merged %(orders)s")),
    (
        "pick_node",
        re.compile(r"pick lease (?P<old>\S+) → (?P<node>\S+): (?P<reason>.*)", re.S),
        _lease,
    ),
    (
        "release",
        re.compile(
            r"(?:wave (?P<wave>.+?), )?"
            r"(?:waybill to draw from (?P<carrier>.+?)'s e-waybill service, )?"
            r"(?:pick node (?P<node>\S+)|no pick node known)"
        ),
        _release,
    ),
    ("edit", re.compile(r".+", re.S), lambda m: _edit(m[0])),
    ("waybill", re.compile(r"waybill (?P<waybill>\S+) drawn"), _named("waybill %(waybill)s drawn")),
    (
        "waybill",
        re.compile(r"offline waybill (?P<waybill>\S+) bound"),
        _named("offline waybill %(waybill)s bound"),
    ),
    (
        "waybill",
        re.compile(r"offline waybill (?P<waybill>\S+) given back"),
        _named("offline waybill %(waybill)s given back"),
    ),
    (
        "hold",
        re.compile(r"e-waybill not drawn: (?P<why>.*)", re.S),
        _named("e-waybill not drawn: %(why)s"),
    ),
    (
        "hold",
        re.compile(
            r"offline waybill (?P<waybill>\S+) refused: (?P<why>.*); relabel the parcel", re.S
        ),
        _named("offline waybill %(waybill)s refused: %(why)s; relabel the parcel"),
    ),
    # A node's facts: the action is the event's type ("order.picked").
    (
        None,
        re.compile(r"event (?P<event>\S+) \(version (?P<version>\d+)\)"),
        lambda m: _s(
            "event %(event)s (version %(version)s)", event=m["event"], version=int(m["version"])
        ),
    ),
    (
        None,
        re.compile(r"event (?P<event>\S+): earlier step, recorded only"),
        _named("event %(event)s: earlier step, recorded only"),
    ),
    (
        None,
        re.compile(
            r"event (?P<event>\S+) from (?P<node>\S+), not the pick lease holder (?P<holder>\S+):"
            r" recorded only, task opened"
        ),
        _named(
            "event %(event)s from %(node)s, not the pick lease holder %(holder)s:"
            " recorded only, task opened"
        ),
    ),
)

_QC = re.compile(r"line (?P<line>\S+): sellable (?P<s>\d+), damaged (?P<d>\d+), missing (?P<m>\d+)")


def _receipt(m: re.Match[str]) -> Said | None:
    """A return's receipt: "receipt R-1: line 1: sellable 1, damaged 0, missing 0, line 2: …"."""
    lines = [
        _s(
            "line %(line)s: sellable %(sellable)s, damaged %(damaged)s, missing %(missing)s",
            line=q["line"],
            sellable=int(q["s"]),
            damaged=int(q["d"]),
            missing=int(q["m"]),
        )
        for q in _QC.finditer(m["lines"])
    ]
    if (
        not lines
        or ", ".join(
            f"line {x['params']['line']}: sellable {x['params']['sellable']}, damaged "
            f"{x['params']['damaged']}, missing {x['params']['missing']}"
            for x in lines
        )
        != m["lines"]
    ):
        return None
    return _s("receipt %(receipt)s: %(lines)s", receipt=m["receipt"], lines=_commas(lines))


_AFTERSALES: tuple[
    tuple[str | None, re.Pattern[str], Callable[[re.Match[str]], Said | None]], ...
] = (
    ("close", re.compile(r"refund only: nothing comes back"), lambda m: _s(m[0])),
    (
        "exchange",
        re.compile(r"exchange order (?P<order>\S+)"),
        _named("exchange order %(order)s"),
    ),
    ("receive", re.compile(r"receipt (?P<receipt>\S+): (?P<lines>.+)", re.S), _receipt),
)

_PATTERNS = {"order_log": _ORDER, "aftersales_log": _AFTERSALES}


def parse(table: str, action: str, reason: str) -> Said | None:
    """The sentence of a history line written before 0048, or None (shown as stored)."""
    if action in _TYPED:
        return None
    for on, pattern, said in _PATTERNS[table]:
        if on is not None and on != action:
            continue
        m = pattern.fullmatch(reason)
        if m:
            return said(m)  # the first pattern that matches is the line's; it may say None
    return None


def _table(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("id", sa.Integer()),
        sa.column("action", sa.String()),
        sa.column("reason", sa.Text()),
        sa.column("message", sa.Text()),
        sa.column("params", sa.JSON()),
    )


def _upgrade(name: str) -> None:
    op.add_column(name, sa.Column("message", sa.Text(), nullable=True))
    op.add_column(name, sa.Column("params", sa.JSON(), nullable=True))
    t = _table(name)
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(t.c.id, t.c.action, t.c.reason)
            .where(t.c.id > last, t.c.reason.is_not(None), t.c.action.not_in(_TYPED))
            .order_by(t.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        updates = []
        for row in rows:
            said = parse(name, row.action, row.reason)
            if said is not None:
                params = said["params"] or None
                updates.append({"rid": row.id, "m": said["msgid"], "p": params})
        if updates:
            bind.execute(
                t.update()
                .where(t.c.id == sa.bindparam("rid"))
                .values(message=sa.bindparam("m"), params=sa.bindparam("p", type_=sa.JSON())),
                updates,
            )


def upgrade() -> None:
    _upgrade("order_log")
    _upgrade("aftersales_log")


def downgrade() -> None:
    for name in ("aftersales_log", "order_log"):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("params")
            batch.drop_column("message")
