"""Bulk inserts through Core (the ORM's bulk path costs more than the insert itself)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table | Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = getattr(table, "__table__", table)
    keys = sorted({k for r in rows for k in r})
    cols = {c.key: c for c in table.columns}
    defaults = {
        k: cols[k].default.arg
        if cols[k].default is not None and not callable(cols[k].default.arg)
        else None
        for k in keys
    }
    full = [{k: r.get(k, defaults[k]) for k in keys} for r in rows]
    # Core executemany: SQLAlchemy batches it as "insertmanyvalues" on PostgreSQL.
    session.connection().execute(insert(table), full)
