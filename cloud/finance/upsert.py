"""The dialect's INSERT with ON CONFLICT (PostgreSQL and SQLite both have it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite


def insert_for(dialect: str, table: Any) -> Any:
    """``INSERT`` of ``dialect`` that offers ``on_conflict_do_nothing``/``_do_update``."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
