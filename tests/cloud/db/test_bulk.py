"""cloud/db/bulk.py: every path of insert_rows stores what Core's insert would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select

from cloud.db.bulk import COPY_MIN_ROWS, insert_rows
from cloud.db.engine import session_factory, transaction
from cloud.db.models import Node, ParkedEvent

NOW = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _rows(n: int, node: str) -> list[dict[str, object]]:
    # JSON with a backslash, a tab and CJK (what a hand-made COPY text would get wrong), a
    # JSON null, and the boolean left to its column default on every other row.
    rows: list[dict[str, object]] = []
    for i in range(n):
        row: dict[str, object] = {
            "node_id": node,
            "seq": i + 1,
            "raw": {"a\\b": "c\td 中文", "n": None} if i % 3 else None,
            "reason": f"bad {i}",
            "received_at": NOW,
        }
        if i % 2:
            row["resolved"] = True
        rows.append(row)
    return rows


def _stored(engine: Engine, node: str) -> list[tuple[object, ...]]:
    with transaction(session_factory(engine)) as s:
        got = s.execute(
            select(ParkedEvent).where(ParkedEvent.node_id == node).order_by(ParkedEvent.seq)
        ).scalars()
        return [(p.seq, p.raw, p.reason, p.received_at, p.resolved) for p in got]


@pytest.mark.parametrize("n", [3, COPY_MIN_ROWS + 4])
@pytest.mark.parametrize("shape", ["dicts", "tuples"])
def test_insert_rows_stores_what_core_stores(engine: Engine, n: int, shape: str) -> None:
    with transaction(session_factory(engine)) as s:
        for node in ("core", "bulk"):
            s.add(
                Node(
                    node_id=node,
                    epoch=0,
                    acked_through=0,
                    down_head=0,
                    online=False,
                    first_seen=NOW,
                    last_seen=NOW,
                )
            )
    with transaction(session_factory(engine)) as s:
        core = _rows(n, "core")
        s.execute(insert(ParkedEvent), [{"resolved": False, **r} for r in core])
        rows = _rows(n, "bulk")
        if shape == "dicts":
            insert_rows(s, ParkedEvent, rows)
        else:
            cols = ("node_id", "seq", "raw", "reason", "resolved")
            tuples = [
                (r["node_id"], r["seq"], r["raw"], r["reason"], r.get("resolved", False))
                for r in rows
            ]
            insert_rows(s, ParkedEvent, tuples, cols, same={"received_at": NOW})
    assert _stored(engine, "bulk") == _stored(engine, "core")
    assert len(_stored(engine, "bulk")) == n
