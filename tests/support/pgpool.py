"""A pool of migrated PostgreSQL databases, reset between tests instead of made anew.

``CREATE DATABASE … TEMPLATE`` and ``DROP DATABASE`` copy and unlink every file of the
database and fsync them: 0.1–0.5 s each on a quiet 2-core machine, several seconds while
the disk is busy, and the suite has well over a thousand PostgreSQL tests. A database that
a test used is instead emptied in one transaction and given back to its worker's pool:

* every other connection to it is terminated first (a test's leftover engine or thread);
* its schema is fingerprinted (tables, columns, defaults, indexes, constraints, triggers,
  functions, extensions, schemas, the Alembic revision, by object id); a test that changed the schema (a migration test going
  down and up, say) gets its database dropped and never reused;
* with ``session_replication_role = replica`` (triggers off for this session only: the
  ledger's refusal of DELETE, foreign keys) every table that holds rows is emptied, the rows
  the migrations seeded are put back as the template had them, and every sequence is set
  back to the template's value — so ids come out as they would in a fresh copy.

What a reset cannot undo it does not try to: it checks, and drops the database instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Engine, make_url, text
from sqlalchemy.pool import NullPool

# From pg_catalog by object id, not information_schema's text (50 ms a reset on a 2-core
# machine, against 14 ms): a database copied with CREATE DATABASE … TEMPLATE keeps the
# template's object ids, and an object dropped and made again (a table, an index, a
# constraint, a column's default) comes back with a new one. A column added and dropped
# leaves an attisdropped column behind: different, so that database is dropped.
_FINGERPRINT = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT 'r ' || c.oid || ' ' || c.relname || ' ' || c.relkind::text || ' ' || c.relnatts AS x
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'a ' || a.attrelid || ' ' || a.attnum || ' ' || a.attname || ' ' || a.atttypid
         || ' ' || a.atttypmod || ' ' || a.attnotnull || ' ' || a.atthasdef || ' ' || a.attisdropped
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
  UNION ALL SELECT 'd ' || d.oid || ' ' || d.adrelid || ' ' || d.adnum
    FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
   WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'k ' || oid || ' ' || conname FROM pg_constraint
   WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 't ' || oid || ' ' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'f ' || oid || ' ' || md5(prosrc) FROM pg_proc
   WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'e ' || oid || ' ' || extversion FROM pg_extension
  UNION ALL SELECT 'n ' || oid || ' ' || nspname FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL SELECT 'v ' || version_num FROM alembic_version
) parts
"""


@dataclass
class _Template:
    fingerprint: str
    tables: list[str]
    #: Rows the migrations left in the template, per table, to be put back after a reset.
    seeds: dict[str, list[str]]
    #: (sequence, last_value or None when never used, start_value) as the template has them.
    sequences: list[tuple[str, int | None, int]]


@dataclass
class PgPool:
    """Databases made from ``template`` on the server ``admin`` talks to (one pool per
    pytest process: xdist workers never share a database)."""

    admin: Engine
    template: str
    base_url: str
    free: list[str] = field(default_factory=list)
    made: set[str] = field(default_factory=set)
    _tmpl: _Template | None = None

    def url_of(self, name: str) -> str:
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    def _engine(self, name: str) -> Engine:
        from cloud.db.engine import make_engine

        return make_engine(self.url_of(name), poolclass=NullPool)

    def _read_template(self) -> _Template:
        if self._tmpl is None:
            eng = self._engine(self.template)
            try:
                with eng.connect() as c:
                    tables = list(
                        c.execute(
                            text(
                                "SELECT quote_ident(tablename) FROM pg_tables"
                                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                                " ORDER BY tablename"
                            )
                        ).scalars()
                    )
                    # As JSON text, put back with json_populate_record: every column type
                    # round-trips through PostgreSQL's own casts, none through Python's.
                    seeds: dict[str, list[str]] = {}
                    for t in tables:
                        rows = list(
                            c.execute(
                                text(f"SELECT row_to_json(pgpool_row)::text FROM {t} pgpool_row")
                            ).scalars()
                        )
                        if rows:
                            seeds[t] = rows
                    sequences = [
                        (str(r[0]), None if r[1] is None else int(r[1]), int(r[2]))
                        for r in c.execute(
                            text(
                                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename),"
                                " last_value, start_value FROM pg_sequences WHERE schemaname = 'public'"
                            )
                        )
                    ]
                    fp = str(c.execute(text(_FINGERPRINT)).scalar_one())
            finally:
                eng.dispose()
            self._tmpl = _Template(fp, tables, seeds, sequences)
        return self._tmpl

    def take(self) -> str:
        """A database at the template's state: a reset one when there is one, else a copy."""
        self._read_template()
        if self.free:
            return self.free.pop()
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.made.add(name)
        return name

    def give_back(self, name: str) -> None:
        """Reset ``name`` and pool it, or drop it when a reset could not make it equal."""
        try:
            ok = self._reset(name)
        except Exception:  # a test that left the database unusable: drop it
            ok = False
        if ok:
            self.free.append(name)
        else:
            self.drop(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.discard(name)

    def close(self) -> None:
        for name in list(self.made):
            self.drop(name)
        self.free.clear()

    def _reset(self, name: str) -> bool:
        tmpl = self._read_template()
        eng = self._engine(name)
        try:
            with eng.connect() as c:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                c.commit()
                # A leftover lock holder was just terminated; never wait on one forever.
                c.execute(text("SET LOCAL lock_timeout = '5s'"))
                if c.execute(text(_FINGERPRINT)).scalar_one() != tmpl.fingerprint:
                    return False
                c.execute(text("SET LOCAL session_replication_role = replica"))
                probe = " UNION ALL ".join(
                    f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {t})"
                    for i, t in enumerate(tmpl.tables)
                )
                used = {tmpl.tables[i] for i in c.execute(text(probe)).scalars()}
                # One round trip: without parameters psycopg sends the statements as one
                # simple query.
                c.exec_driver_sql(
                    "".join(f"DELETE FROM {t};" for t in sorted(used | set(tmpl.seeds)))
                )
                for t, rows in tmpl.seeds.items():
                    c.execute(
                        text(
                            f"INSERT INTO {t} SELECT * FROM json_populate_record(NULL::{t}, CAST(:j AS json))"
                        ),
                        [{"j": r} for r in rows],
                    )
                c.execute(
                    text(
                        "SELECT setval(CAST(s AS regclass), v, called) FROM unnest("
                        "CAST(:s AS text[]), CAST(:v AS bigint[]), CAST(:c AS boolean[])) AS x(s, v, called)"
                    ),
                    {
                        "s": [seq for seq, _, _ in tmpl.sequences],
                        "v": [start if last is None else last for _, last, start in tmpl.sequences],
                        "c": [last is not None for _, last, _ in tmpl.sequences],
                    },
                )
                c.commit()
        finally:
            eng.dispose()
        return True
