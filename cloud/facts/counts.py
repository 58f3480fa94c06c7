"""Stocktake facts (stocktake.counted): a variance waits for a lead's approval, which books
the adjustments (docs/sync.md "Conflicts": a count never overwrites the book by itself)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import Event as EventRow
from cloud.db.models import Task, Warehouse
from cloud.errors import N_, ConflictError
from cloud.facts.common import book
from cloud.stock.ledger import Move, require_skus
from protocol.messages import EVENT_ADAPTER, StocktakeCounted

log = logging.getLogger("guanjia.cloud.facts")


COUNT_VARIANCE = "count_variance"


def count_moves(session: Session, account_id: int, node: str, ev: StocktakeCounted) -> list[Move]:
    """The adjustments a count's variances stand for (expected -> counted per bin and SKU)."""
    p = ev.payload
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == p.warehouse)
    ).scalar_one()
    return [
        Move(
            wh.id,
            ln.sku_code,
            "adjust",
            tasks.sentence(
                N_(
                    "stocktake %(count)s (%(method)s, %(scope)s): counted %(counted)s, expected"
                    " %(expected)s"
                ),
                count=p.count_id,
                method=p.method,
                scope=p.scope,
                counted=ln.counted,
                expected=ln.expected,
            ),
            f"count:{p.count_id}",
            f"node:{node}",
            qty_delta=ln.counted - ln.expected,
            bin_code=ln.bin,
            bin_delta=ln.counted - ln.expected,
            event_key=f"{node}:{ev.seq}:{i}",
        )
        for i, ln in enumerate(p.lines)
        if ln.counted != ln.expected
    ]


def approve_count(session: Session, task: Task, actor: str, now: datetime) -> int:
    """Book an approved count's adjustments (the task carries the count's event id)."""
    row = session.execute(
        select(EventRow).where(EventRow.event_id == task.event_id)
    ).scalar_one_or_none()
    if row is None:
        raise ConflictError(N_("task %(task)s: the count it approves is not stored"), task=task.id)
    ev = EVENT_ADAPTER.validate_python(
        {
            "v": 1,
            "node": row.node_id,
            "epoch": row.epoch,
            "seq": row.seq,
            "id": row.event_id,
            "hlc": row.hlc,
            "type": row.type,
            "payload": row.payload,
        }
    )
    assert isinstance(ev, StocktakeCounted)
    moves = count_moves(session, task.account_id, row.node_id, ev)
    for m in moves:
        m.actor = actor
    what = tasks.sentence(N_("stocktake %(count)s"), count=ev.payload.count_id)
    book(session, task.account_id, moves, now, row.node_id, what)
    return len(moves)


def count(
    session: Session, account_id: int, node: str, ev: StocktakeCounted, now: datetime
) -> None:
    p = ev.payload
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == p.warehouse)
    ).scalar_one_or_none()
    if wh is None:
        tasks.open_task(
            session,
            account_id,
            "stocktake",
            N_("count %(count)s from %(node)s names unknown warehouse %(warehouse)s"),
            now,
            params={"count": p.count_id, "node": node, "warehouse": p.warehouse},
            node_id=node,
            event_id=str(ev.id),
        )
        return
    moves = count_moves(session, account_id, node, ev)
    try:
        require_skus(session, account_id, {m.sku_code for m in moves})
    except Exception as err:  # an unknown SKU in a count is for a human, not a crash of ingest
        tasks.open_task(
            session,
            account_id,
            "stocktake",
            N_("count %(count)s: %(why)s; nothing booked"),
            now,
            params={"count": p.count_id, "why": tasks.said(err)},
            node_id=node,
            event_id=str(ev.id),
        )
        return
    if moves:
        # A count never overwrites the book by itself: a lead approves the variance
        # (POST /api/v1/tasks/{id}/resolve with approve), which books the adjustments.
        lines: list[Any] = [f"{m.bin_code} {m.sku_code} {m.qty_delta:+d}" for m in moves[:50]]
        if len(moves) > 50:
            lines.append(tasks.sentence(N_("… %(n)s more"), n=len(moves) - 50))
        tasks.open_task(
            session,
            account_id,
            COUNT_VARIANCE,
            N_(
                "count %(count)s (%(method)s, %(scope)s) by %(node)s: %(n)s variance(s) to"
                " approve: %(lines)s"
            ),
            now,
            params={
                "count": p.count_id,
                "method": p.method,
                "scope": p.scope,
                "node": node,
                "n": len(moves),
                "lines": lines,
            },
            node_id=node,
            event_id=str(ev.id),
        )
    if p.missed_bins:
        tasks.open_task(
            session,
            account_id,
            "stocktake",
            N_("count %(count)s missed bins: %(bins)s"),
            now,
            params={"count": p.count_id, "bins": ", ".join(p.missed_bins[:200])},
            node_id=node,
            event_id=str(ev.id),
        )
    log.info("stocktake %s from %s: %d variance line(s)", p.count_id, node, len(moves))
