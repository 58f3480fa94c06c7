"""THE write path for bulk rows: :func:`insert_rows`. Every many-row insert goes through it.

On PostgreSQL a batch goes through ``COPY … FROM STDIN`` (psycopg's copy protocol, binary
format): one round trip and no per-row statement, several times faster than executemany,
which psycopg sends as one pipelined INSERT per row. On SQLite (and for a small batch on
PostgreSQL, where a COPY's setup costs more than it saves) it is an executemany. Both paths
store the same values: column defaults are filled in Python, as Core would, and every value
is bound as the column's type binds it (JSON by the engine's serializer, so ``None`` is
JSON ``null``, as Core stores it).

SQLite's executemany is the driver's own, with the values bound by the column types'
processors once per column: SQLAlchemy's per-row parameter processing cost more than
SQLite's insert itself (event ingest, order arrival). A column whose type has no binary
COPY mapping sends the batch through Core's executemany instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    SmallInteger,
    String,
    Table,
    insert,
)
from sqlalchemy.orm import Session

#: Below this many rows a COPY's setup costs more than it saves.
COPY_MIN_ROWS = 16


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def insert_rows(
    session: Session,
    table: Table | Any,
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    columns: Sequence[str] | None = None,
    same: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` into ``table`` (a Table or a mapped class) in the session's transaction.

    Rows are mappings of column key to value, or, with ``columns``, sequences of values in
    that order (what a hot path builds cheapest; every row then has every column). ``same``:
    values every row shares (the time received, say), bound once for the batch.
    """
    if not rows:
        return
    table = getattr(table, "__table__", table)
    cols = {c.key: c for c in table.columns}
    if columns is not None:
        keys = list(columns)
        tuples = cast(Sequence[Sequence[Any]], rows)
    else:
        dicts = cast(Sequence[Mapping[str, Any]], rows)
        first = dicts[0].keys()
        uniform = all(r.keys() == first for r in dicts)  # every row has the same keys (the usual)
        keys = sorted(first) if uniform else sorted({k for r in dicts for k in r})
        if uniform:
            pick = itemgetter(*keys)  # one C call per row instead of a comprehension
            tuples = [pick(r) for r in dicts] if len(keys) > 1 else [(pick(r),) for r in dicts]
        else:
            defaults = {k: _default(cols[k]) for k in keys}
            tuples = [tuple(r.get(k, defaults[k]) for k in keys) for r in dicts]
    shared = dict(same or {})
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name == "postgresql" and len(tuples) >= COPY_MIN_ROWS:
        types = [_pg_type(cols[k]) for k in [*keys, *shared]]
        if all(types):
            _copy(conn, table, keys, shared, cast(list[str], types), tuples)
            return
    if dialect.name == "sqlite":
        _executemany(conn, table, keys, shared, tuples)
        return
    conn.execute(insert(table), [{**dict(zip(keys, r, strict=True)), **shared} for r in tuples])


def _default(column: Any) -> Any:
    """A column's scalar Python default (None for none, or for a callable one)."""
    arg = getattr(column.default, "arg", None)
    return None if arg is None or callable(arg) else arg


def _executemany(
    conn: Any,
    table: Table,
    keys: list[str],
    shared: dict[str, Any],
    rows: Sequence[Sequence[Any]],
) -> None:
    """The driver's executemany, each value bound as its column's type binds it."""
    dialect = conn.dialect
    cols = {c.key: c for c in table.columns}

    def processor(key: str) -> Any:
        return cols[key].type.dialect_impl(dialect).bind_processor(dialect)

    procs = [(i, p) for i, k in enumerate(keys) if (p := processor(k)) is not None]
    tail = tuple((p(v) if (p := processor(k)) else v) for k, v in shared.items())
    if len(procs) == 1:  # the usual (a JSON column): one call per row, no list
        (i, p), j = procs[0], procs[0][0] + 1
        rows = [(*r[:i], p(r[i]), *r[j:], *tail) for r in rows]
    elif procs:
        bound: list[Sequence[Any]] = []
        for r in rows:
            values = list(r)
            for i, p in procs:
                values[i] = p(values[i])
            bound.append((*values, *tail))
        rows = bound
    elif tail:
        rows = [(*r, *tail) for r in rows]
    keys = [*keys, *shared]
    prep = dialect.identifier_preparer
    names = ", ".join(prep.quote(cols[k].name) for k in keys)
    marks = ", ".join("?" * len(keys))
    conn.exec_driver_sql(f"INSERT INTO {prep.format_table(table)} ({names}) VALUES ({marks})", rows)


def _pg_type(column: Any) -> str | None:
    """The PostgreSQL type a binary COPY sends for ``column``, or None if not one we map.

    Binary COPY needs each value's exact wire type (an int4 into a bigint column is an error);
    varchar and json columns read the binary form of text, so text serves them.
    """
    t = column.type
    t = getattr(t, "impl", t)  # a TypeDecorator (cloud.db.models.UtcDateTime) sends its impl
    if isinstance(t, JSON | String):
        return "text"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, BigInteger):
        return "int8"
    if isinstance(t, SmallInteger):
        return "int2"
    if isinstance(t, Integer):
        return "int4"
    if isinstance(t, DateTime):
        return "timestamptz" if t.timezone else "timestamp"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, Float):
        return "float8"
    return None


def _copy(
    conn: Any,
    table: Table,
    keys: list[str],
    shared: dict[str, Any],
    types: list[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """COPY the rows in binary; columns left out (serial ids) take their server defaults,
    as in INSERT."""
    cols = {c.key: c for c in table.columns}
    tail = tuple(_json(v) if isinstance(cols[k].type, JSON) else v for k, v in shared.items())
    json_at = [i for i, k in enumerate(keys) if isinstance(cols[k].type, JSON)]
    keys = [*keys, *shared]
    prep = conn.dialect.identifier_preparer
    # A column key may differ from its database name; COPY needs the names.
    names = ", ".join(prep.quote(cols[k].name) for k in keys)
    sql = f"COPY {prep.format_table(table)} ({names}) FROM STDIN (FORMAT BINARY)"
    # On the session's own connection, inside its transaction.
    dbapi = conn.connection.dbapi_connection
    with dbapi.cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(types)
        write = copy.write_row
        if not json_at:
            for r in rows:
                write((*r, *tail) if tail else r)
            return
        for r in rows:
            values = list(r)
            for i in json_at:
                values[i] = _json(values[i])
            write((*values, *tail))
