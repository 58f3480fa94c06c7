"""Engine, sessions and migrations. Nothing here runs at import time."""

from __future__ import annotations

import functools
import select as select_
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    Engine,
    String,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Executable

from cloud.db import sqlite_lock

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: How long a SQLite writer waits for the write lock before "database is locked" (seconds).
BUSY_S = 30.0


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``. ``read_only`` (SQLite): transactions begin deferred.

    SQLite writers take the database lock at BEGIN (below) so they queue instead of failing;
    a reader that did so would queue behind every writer and every other reader for no
    reason (WAL lets readers run beside the writer), and SQLite's busy handler sleeps in steps
    of up to 100 ms: under load the API's GETs serialised and their latency collapsed.
    """
    # orjson for JSON columns: several times faster than the stdlib for event payloads.
    kwargs.setdefault("json_serializer", _json)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        path = _file_of(make_url(url))
        # Writers of a file queue on a lock beside it and wake when it frees, instead of
        # polling SQLite's lock with the busy handler's sleeps (cloud/db/sqlite_lock.py).
        lock = None if read_only or path is None else sqlite_lock.write_lock(path, BUSY_S)
        connect_args: dict[str, Any] = {"timeout": BUSY_S}
        if lock is not None:
            connect_args["factory"] = sqlite_lock.connection_class(lock)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own BEGIN handling defers locks; take the write lock at BEGIN so two
            # writers queue instead of failing with "database is locked" mid-transaction.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            if read_only:
                # Readers only: a write through this engine fails at once instead of taking
                # the write lock by surprise (the API's GETs end their transaction on the
                # event loop, cloud/api/deps.py _reading, which must never wait for it).
                cur.execute("PRAGMA query_only=ON")
            elif lock is not None:
                # Checkpoints after letting go of the write lock, not inside a COMMIT that
                # holds it (cloud/db/sqlite_lock.py, "Checkpoints outside the lock").
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if read_only:
                conn.exec_driver_sql("BEGIN")
                return
            if lock is None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            dbapi_conn = conn.connection.dbapi_connection
            sqlite_lock.take(dbapi_conn)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                sqlite_lock.let_go(dbapi_conn)
                raise

        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _still_connected)
    return engine


def with_server_settings(url: str, **settings: str) -> str:
    """``url`` with PostgreSQL run-time settings its connections start with (libpq's
    ``options``, ``-c name=value``), after any the URL names already (e.g. a search path).
    Set at connect: no round trip per request. Other databases' URLs come back as they are."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not settings:
        return url
    options = " ".join(
        [str(parsed.query.get("options", "")), *(f"-c{k}={v}" for k, v in settings.items())]
    ).strip()
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def _file_of(url: URL) -> str | None:
    """The file of a SQLite URL; None for an in-memory database (no other process sees it)."""
    db = url.database
    if db in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return None
    if db.startswith("file:"):  # a URI filename (``?uri=true``)
        return None if "mode=memory" in db else db.removeprefix("file:").split("?")[0]
    return db


def _still_connected(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection the server has dropped is replaced before use.

    An idle connection has nothing to read unless the server ended it (a restart, an
    administrator's ``pg_terminate_backend``, an idle timeout): then it has sent a FATAL
    message or closed the socket, and the socket is readable. Polling it costs no round
    trip; SQLAlchemy's ``pool_pre_ping`` sent one with every request (about 0.15 ms of the
    hub's and the database's CPU each). On ``DisconnectionError`` the pool discards the
    connection and checks out another. (A link cut without a word from the server is
    noticed by neither check until TCP gives up.)
    """
    if dbapi_conn.closed or select_.select([dbapi_conn.fileno()], [], [], 0)[0]:
        raise DisconnectionError("the database server closed this pooled connection")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


#: PostgreSQL advisory lock held while migrating (cloud/db/migrations/env.py): "guanjia".
MIGRATION_LOCK = 0x6775616E6A6961


@functools.cache
def head_revisions() -> frozenset[str]:
    """The migration scripts' head(s), read from the scripts once per process."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def current_revisions(engine: Engine) -> frozenset[str]:
    """The revision(s) the database is at (empty: never migrated)."""
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``.

    At head already — every hub start, every worker, every test's copy of a migrated
    template — it is one read of ``alembic_version``: Alembic itself would load and compile
    every migration script to find that out (about 70 ms of CPU with 39 scripts).
    """
    if revision == "head" and current_revisions(engine) == head_revisions():
        return
    command.upgrade(alembic_config(engine), revision)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


@contextmanager
def generic_plans(session: Session) -> Iterator[None]:
    """Run the statements of the block under PostgreSQL's ``plan_cache_mode =
    force_generic_plan``, and put the connection's own setting back after (elsewhere a no-op).

    For a big statement whose plan does not depend on its values (the F9/F10 stock views:
    one read of every SKU of the account whatever the keyword, then lookups by index per
    SKU of the page). psycopg prepares a statement at its fifth use, but under "auto"
    PostgreSQL kept planning the views anew on every call (their custom plans look cheaper
    than the generic one by estimate): ~1.8 ms of the database's ~3.8 ms of CPU per view on
    the bench's volume (issue 20, docs/benchmarks.md "S33"). The whole hub's connections
    can plan so (``Settings.db_plan_cache_mode``) but that is off by default: a filter on a
    skewed column may plan worse; these statements have none.

    Two round trips (SET, RESET): ~0.2 ms of the hub's CPU, well under what it saves. RESET
    returns to the connection's start value (``with_server_settings``). If a statement of
    the block fails inside a transaction, RESET cannot run there; the transaction's
    rollback undoes the SET with it (PostgreSQL: a SET in an aborted transaction is undone),
    and in autocommit the RESET still runs."""
    if dialect_of(session) != "postgresql":
        yield
        return
    conn = session.connection()
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    try:
        yield
    except BaseException:
        with suppress(DBAPIError):
            conn.exec_driver_sql("RESET plan_cache_mode")
        raise
    conn.exec_driver_sql("RESET plan_cache_mode")


def in_param(dialect: str, column: Any, name: str | None, value: Any = None) -> ColumnElement[bool]:
    """``column IN :name`` with the values as ONE bound parameter (see ``in_value``).

    ``column.in_(values)`` renders one parameter per value, so every page of a list is a new
    SQL text: SQLAlchemy compiles it again and PostgreSQL plans it again (a third of a stock
    view's time in the profile). An array on PostgreSQL (``= ANY``) and a JSON array on
    SQLite (``json_each``) keep the statement the same whatever the values. ``name`` None
    with ``value`` bound: an anonymous parameter, for a statement built where it is run.
    """
    if dialect == "postgresql":
        same: ColumnElement[bool] = column == any_(bindparam(name, value, type_=ARRAY(column.type)))
        return same
    each = func.json_each(bindparam(name, value, type_=String)).table_valued("value")
    found: ColumnElement[bool] = column.in_(select(each.c.value))
    return found


def in_value(dialect: str, values: Iterable[Any]) -> Any:
    """The value of an ``in_param`` parameter: a list, or its JSON text on SQLite."""
    items = list(values)
    return items if dialect == "postgresql" else _json(items)


def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``in_param`` with its value bound, for a statement built where it is run."""
    dialect = dialect_of(session)
    return in_param(dialect, column, None, in_value(dialect, values))


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE … ESCAPE '\\'``, the text's own ``% _ \\`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Statements:
    """Statements built once per dialect and variant, then run with named parameters.

    Building a select costs SQLAlchemy 0.15–0.3 ms of Python (then as much again to find it
    in its compiled cache); the busiest reads run several per request. ``build(dialect,
    variant)`` must use only ``bindparam``s for what changes between calls.
    """

    def __init__(self, build: Callable[[str, Hashable], Executable]) -> None:
        self._build = build
        self._built: dict[tuple[str, Hashable], Executable] = {}

    def get(self, session: Session, variant: Hashable = None) -> Executable:
        key = (dialect_of(session), variant)
        stmt = self._built.get(key)
        if stmt is None:
            stmt = self._built[key] = self._build(*key)
        return stmt
