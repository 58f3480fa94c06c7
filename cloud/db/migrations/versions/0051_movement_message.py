"""ledger movements: a message id and parameters, so the pages say their reasons in their language

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07 00:00:00

Issue 15 ("zh_CN complete"): a ledger movement's reason (``stock_movement.reason``) kept only
the English the hub composed ("order reserves stock", "picked by 张三", "cancelled: 买家不要了",
"stocktake C-1 (blind, bin): counted 3, expected 5"). ``message`` is its gettext message id
and ``params`` (JSON) what goes into it (cloud/errors.py ``written``), as migration 0048 did
for an order's history; ``reason`` stays, the English the API answers. A person's words (an
adjustment's or a reversal's reason given on the API) have no message id: the pages show them
as typed.

Old rows are given a message id where their English parses as one of the reasons below (the
texts the hub wrote before this revision, frozen here, not imported), and only for the kind of
movement that wrote it: an adjustment's reason is a person's unless it is a stocktake's. Any
other row keeps its English and the page shows that. A QC fail's receipt ("QC fail: …") gets
its message id here too: cancelling that receipt (取消入库) now tells its rejected units by the
message id (cloud/stock/ledger.py ``QC_FAIL``), where it read the English before.

A channel's change (``channel_change.detail``, the shop page's "Changes on the channel") is
given the same columns where the detail is our own sentence (closed on the channel, a refund,
an address changed: cloud/channels/changes.py); a detail that is the trade's data refused as
it stood, or the marketplace's words, has no message id and is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

Said = dict[str, Any]
#: Rows read and written per round: a hub with years of movements is not held in memory.
_BATCH = 5000


def _s(msgid: str, **params: Any) -> Said:
    return {"msgid": msgid, "params": params}


def _named(msgid: str) -> Callable[[re.Match[str]], Said]:
    return lambda m: _s(msgid, **m.groupdict())


def _fixed(msgid: str) -> tuple[re.Pattern[str], Callable[[re.Match[str]], Said]]:
    return re.compile(re.escape(msgid)), lambda m: _s(msgid)


def _count(m: re.Match[str]) -> Said:
    return _s(
        "stocktake %(count)s (%(method)s, %(scope)s): counted %(counted)s, expected %(expected)s",
        count=m["count"],
        method=m["method"],
        scope=m["scope"],
        counted=int(m["counted"]),
        expected=int(m["expected"]),
    )


_Pattern = tuple[re.Pattern[str], Callable[[re.Match[str]], Said]]
_QC: _Pattern = (re.compile(r"QC fail: (?P<reason>.*)", re.S), _named("QC fail: %(reason)s"))
_CANCELLED: _Pattern = (
    re.compile(r"cancelled: (?P<reason>.*)", re.S),
    _named("cancelled: %(reason)s"),
)

#: The English the hub wrote before 0051, by the movement's kind, and the sentence it is.
_KINDS: dict[str, tuple[_Pattern, ...]] = {
    "reservation": (_fixed("order reserves stock"), _fixed("gift reserves stock")),
    "release": (
        (re.compile(r"split into (?P<order>\S+)"), _named("split into %(order)s")),
        (re.compile(r"merged into (?P<order>\S+)"), _named("merged into %(order)s")),
        (
            re.compile(r"warehouse changed to (?P<warehouse>\S+)"),
            _named("warehouse changed to %(warehouse)s"),
        ),
        _CANCELLED,
    ),
    "ship": (_fixed("shipped"),),
    "pick": ((re.compile(r"picked by (?P<who>.+)", re.S), _named("picked by %(who)s")),),
    "receipt": (
        _fixed("receipt"),
        _QC,
        (re.compile(r"PO receipt (?P<receipt>\S+)"), _named("PO receipt %(receipt)s")),
    ),
    "transfer": (
        _fixed("transfer"),
        _QC,
        (
            re.compile(r"transfer receipt (?P<receipt>\S+)"),
            _named("transfer receipt %(receipt)s"),
        ),
        (
            re.compile(r"transfer (?P<number>\S+): the rest shipped from the hub"),
            _named("transfer %(number)s: the rest shipped from the hub"),
        ),
        (
            re.compile(r"transfer (?P<number>\S+) shipped by (?P<who>.+)", re.S),
            _named("transfer %(number)s shipped by %(who)s"),
        ),
        (
            re.compile(r"transfer (?P<number>\S+) shipped"),
            _named("transfer %(number)s shipped"),
        ),
    ),
    "return": (
        (re.compile(r"return (?P<number>\S+)"), _named("return %(number)s")),
        (
            re.compile(
                r"return (?P<number>\S+) damaged, received at (?P<warehouse>\S+): (?P<reason>.*)",
                re.S,
            ),
            _named("return %(number)s damaged, received at %(warehouse)s: %(reason)s"),
        ),
        (
            re.compile(r"return (?P<number>\S+) damaged: (?P<reason>.*)", re.S),
            _named("return %(number)s damaged: %(reason)s"),
        ),
    ),
    "adjust": (
        (
            re.compile(
                r"stocktake (?P<count>\S+) \((?P<method>[^,()]+), (?P<scope>[^,()]+)\):"
                r" counted (?P<counted>-?\d+), expected (?P<expected>-?\d+)"
            ),
            _count,
        ),
    ),
    "reversal": (
        _CANCELLED,
        (
            re.compile(r"outbound cancelled: (?P<reason>.*)", re.S),
            _named("outbound cancelled: %(reason)s"),
        ),
        (re.compile(r"冲销出库: (?P<reason>.*)", re.S), _named("冲销出库: %(reason)s")),
        (re.compile(r"取消入库: (?P<reason>.*)", re.S), _named("取消入库: %(reason)s")),
        (
            re.compile(r"取消入库 (?P<receipt>\S+): (?P<reason>.*)", re.S),
            _named("取消入库 %(receipt)s: %(reason)s"),
        ),
        (
            re.compile(r"冲销出库 (?P<number>\S+): (?P<reason>.*)", re.S),
            _named("冲销出库 %(number)s: %(reason)s"),
        ),
    ),
}


_LATE = "the buyer changed the address on the channel after the audit: reject it (驳回) and edit"
_REFUND: _Pattern = (
    re.compile(r"refund on the channel: line (?P<line>\S+) (?P<status>\S+)"),
    _named("refund on the channel: line %(line)s %(status)s"),
)
#: A channel change's detail before 0051, by the change's kind.
_CHANGES: dict[str, tuple[_Pattern, ...]] = {
    "cancel": (
        (
            re.compile(r"closed on the channel \((?P<status>[^()]*)\)"),
            _named("closed on the channel (%(status)s)"),
        ),
    ),
    "refund": (_REFUND,),
    "refund_ended": (_REFUND,),
    "address": (
        _fixed("address changed"),
        (
            re.compile(r"address changed; order (?P<status>\S+)"),
            _named("address changed; order %(status)s"),
        ),
        _fixed(_LATE),
    ),
}


def parse(kind: str, reason: str, table: str = "stock_movement") -> Said | None:
    """The sentence of a movement's reason (or of a channel change's detail) written before
    0051, or None (shown as stored)."""
    patterns = _CHANGES if table == "channel_change" else _KINDS
    for pattern, said in patterns.get(kind, ()):
        m = pattern.fullmatch(reason)
        if m:
            return said(m)
    return None


def _upgrade(name: str, key: type[sa.types.TypeEngine[Any]], text: str) -> None:
    """Add the columns to ``name`` and give its old rows a message id where they parse
    (``text``: the column with the English; ``key``: the type of its primary key ``id``)."""
    op.add_column(name, sa.Column("message", sa.Text(), nullable=True))
    op.add_column(name, sa.Column("params", sa.JSON(), nullable=True))
    kinds = _CHANGES if name == "channel_change" else _KINDS
    t = sa.table(
        name,
        sa.column("id", key()),
        sa.column("kind", sa.String()),
        sa.column(text, sa.String()),
        sa.column("message", sa.Text()),
        sa.column("params", sa.JSON()),
    )
    bind = op.get_bind()
    last: Any = None
    while True:
        q = sa.select(t.c.id, t.c.kind, t.c[text]).where(t.c.kind.in_(list(kinds)))
        if last is not None:
            q = q.where(t.c.id > last)
        rows = bind.execute(q.order_by(t.c.id).limit(_BATCH)).all()
        if not rows:
            break
        last = rows[-1].id
        updates = []
        for row in rows:
            said = parse(row.kind, row[2] or "", name)
            if said is not None:
                updates.append({"rid": row.id, "m": said["msgid"], "p": said["params"] or None})
        if updates:
            bind.execute(
                t.update()
                .where(t.c.id == sa.bindparam("rid"))
                .values(message=sa.bindparam("m"), params=sa.bindparam("p", type_=sa.JSON())),
                updates,
            )


def upgrade() -> None:
    _upgrade("stock_movement", sa.String, "reason")
    _upgrade("channel_change", sa.Integer, "detail")


def downgrade() -> None:
    for name in ("channel_change", "stock_movement"):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("params")
            batch.drop_column("message")
