"""sqlite-utils in the edge store: migrations inside the store's transaction, SKU search,
and the read-only inspection documented in docs/edge-store.md."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.store import replica
from edge.store.migrations import MIGRATIONS, sku_search_index
from edge.store.schema import Migration, MigrationError
from edge.store.store import Store
from protocol.messages import CatalogueUpsert, CatalogueUpserted, DownBatch

NODE = "wh1-pick-1"

CATALOGUE = [
    ("TEE-A-RED", "纯棉圆领T恤 红色 Cotton crew tee", "6900000000011"),
    ("TEE-B-BLU", "纯棉圆领T恤 蓝色 Cotton crew tee blue", "6900000000028"),
    ("MUG-001", "陶瓷马克杯 Ceramic mug", "6900000000035"),
    ("BOOK-1", "Python 编程 book", "6900000000042"),
]


def upsert(code: str, name: str, barcode: str) -> CatalogueUpserted:
    return CatalogueUpserted(
        seq=1, payload=CatalogueUpsert(sku_code=code, name=name, barcodes=[barcode])
    )


def feed(store: Store, *changes: CatalogueUpserted) -> None:
    """Downlink changes the way the sync applies them (Store.apply_down)."""
    start = store.down_applied
    numbered = [c.model_copy(update={"seq": start + i + 1}) for i, c in enumerate(changes)]
    batch = DownBatch(node=NODE, changes=numbered, head=start + len(changes))
    assert store.apply_down(batch) == len(changes)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "edge.db", NODE)
    feed(s, *(upsert(*row) for row in CATALOGUE))
    return s


def codes(store: Store, text: str, limit: int = 20) -> list[str]:
    return [s.sku_code for s in replica.search_skus(store.conn, text, limit)]


def schema(conn: sqlite3.Connection) -> list[tuple[str, str, str | None]]:
    return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()


# --- migrations -------------------------------------------------------------------------


def test_the_search_migration_is_a_sqlite_utils_step_with_trigram_fts(store: Store) -> None:
    step = next(st for n, st in MIGRATIONS if n == "0009_sku_search")
    assert callable(step)
    fts = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'sku_fts'").fetchone()
    assert "trigram" in fts[0]
    triggers = {
        r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    assert {"sku_ai", "sku_ad", "sku_au"} <= triggers
    # sqlite-utils left the store's connection as the store set it up.
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 0


def test_a_failing_callable_migration_leaves_no_schema_and_no_record(store: Store) -> None:
    before = schema(store.conn)
    barcodes = store.conn.execute("SELECT count(*) FROM barcode").fetchone()[0]

    def half_then_fail(db: sqlite_utils.Database) -> None:
        db.table("note").create({"id": int, "text": str}, pk="id", strict=True)
        db.table("note").insert({"id": 1, "text": "x"})
        db.table("note").create_index(["text"])
        # sku is referenced by barcode ON DELETE CASCADE: the rebuild must not cascade.
        db.table("sku").transform(column_order=["name", "sku_code"])
        db.table("note").create({"id": int}, pk="id")  # already exists: sqlite-utils raises

    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        store.migrate([*MIGRATIONS, ("9001_half", half_then_fail)])
    assert schema(store.conn) == before
    assert store.conn.execute("SELECT count(*) FROM barcode").fetchone()[0] == barcodes
    assert (
        store.conn.execute("SELECT 1 FROM schema_migrations WHERE name = '9001_half'").fetchone()
        is None
    )
    assert not store.conn.in_transaction
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert codes(store, "马克杯") == ["MUG-001"]  # the FTS triggers came back with the rollback
    assert store.start_epoch("test", "demo") == 1  # the store is usable


def test_a_callable_migration_creates_transforms_and_indexes_once(store: Store) -> None:
    runs: list[int] = []

    def note_and_rebuild_sku(db: sqlite_utils.Database) -> None:
        runs.append(1)
        db.table("note").create({"id": int, "text": str}, pk="id", strict=True)
        db.table("note").create_index(["text"])
        db.table("sku").transform(column_order=["name", "sku_code"])
        sku_search_index(db)  # a rebuilt table loses its triggers: index it again

    steps: list[Migration] = [*MIGRATIONS, ("9002_note", note_and_rebuild_sku)]
    assert store.migrate(steps) == ["9002_note"]
    assert store.migrate(steps) == []
    assert runs == [1]
    sql = {r[0]: r[1] for r in store.conn.execute("SELECT name, sql FROM sqlite_master")}
    assert sql["note"].rstrip().endswith("STRICT")
    assert sql["sku"].rstrip().endswith("STRICT")  # transform keeps STRICT
    assert "idx_note_text" in sql
    assert store.conn.execute("SELECT count(*) FROM barcode").fetchone()[0] == len(CATALOGUE)
    assert replica.sku_by_barcode(store.conn, "6900000000035") is not None
    feed(store, upsert("MUG-002", "搪瓷马克杯 enamel mug", "6900000000059"))
    assert codes(store, "马克杯") == ["MUG-001", "MUG-002"]


def test_a_step_that_breaks_a_foreign_key_is_refused(store: Store) -> None:
    def orphan(db: sqlite_utils.Database) -> None:
        db.execute("INSERT INTO barcode VALUES ('999', 'NO-SUCH-SKU')")

    with pytest.raises(MigrationError, match="foreign keys"):
        store.migrate([*MIGRATIONS, ("9003_orphan", orphan)])
    assert (
        store.conn.execute("SELECT count(*) FROM barcode WHERE barcode = '999'").fetchone()[0] == 0
    )


# --- SKU search -------------------------------------------------------------------------


def test_search_by_code_prefix_chinese_fragment_and_english_word(store: Store) -> None:
    assert codes(store, "TEE-") == ["TEE-A-RED", "TEE-B-BLU"]
    assert codes(store, "tee-b") == ["TEE-B-BLU"]
    assert codes(store, "MU") == ["MUG-001"]  # shorter than a trigram: LIKE
    assert codes(store, "马克杯") == ["MUG-001"]
    assert codes(store, "红色") == ["TEE-A-RED"]  # two characters: LIKE
    assert codes(store, "圆领T恤") == ["TEE-A-RED", "TEE-B-BLU"]
    assert codes(store, "ceramic") == ["MUG-001"]
    assert codes(store, "Cotton blue") == ["TEE-B-BLU"]  # every word must match
    assert codes(store, "book BO") == ["BOOK-1"]
    assert codes(store, "TEE", limit=1) == ["TEE-A-RED"]
    assert codes(store, "tee") == ["TEE-A-RED", "TEE-B-BLU"]
    assert codes(store, "nothing-like-this") == []


def test_search_puts_code_prefix_matches_first(store: Store) -> None:
    feed(store, upsert("ZZ-9", "Book end for BOOK shelves", "6900000000066"))
    assert codes(store, "book") == ["BOOK-1", "ZZ-9"]
    assert codes(store, "BOOK-1") == ["BOOK-1"]


def test_search_follows_downstream_updates_and_deletes(store: Store) -> None:
    feed(store, upsert("MUG-001", "不锈钢保温杯 steel flask", "6900000000035"))
    assert codes(store, "ceramic") == []
    assert codes(store, "马克杯") == []
    assert codes(store, "保温杯") == ["MUG-001"]
    assert codes(store, "flask") == ["MUG-001"]
    # The downlink has no catalogue delete; a row deleted from the replica leaves the index too.
    with store.atomic() as conn:
        conn.execute("DELETE FROM sku WHERE sku_code = 'BOOK-1'")
    assert codes(store, "Python") == []
    assert codes(store, "book") == []


HOSTILE = [
    "",
    "   ",
    '"',
    "'",
    "*",
    "a OR b",
    "NEAR",
    "NEAR(tee mug)",
    "AND",
    "NOT tee",
    '"tee',
    'tee"',
    'mug" OR "tee',
    "sku_code:TEE",
    "{sku_code name}:tee",
    "^tee",
    "tee*",
    "-",
    "()",
    "%",
    "_",
    "\\",
    "\x00",
    "tee\x00mug",
    "\ud800",
    "马克杯\udfff",
    "TEE* OR 1=1; DROP TABLE sku; --",
    "x" * 5000,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_query_text_gives_a_list(store: Store, text: str) -> None:
    found = codes(store, text)
    assert isinstance(found, list)
    assert store.conn.execute("SELECT count(*) FROM sku").fetchone()[0] == len(CATALOGUE)


def test_hostile_text_is_literal(store: Store) -> None:
    assert codes(store, "%") == []  # LIKE wildcards are escaped
    assert codes(store, "_") == []
    assert codes(store, "tee*") == []
    assert codes(store, "马克杯\udfff") == ["MUG-001"]  # a lone surrogate is dropped
    assert codes(store, "") == []
    assert codes(store, "mug", limit=0) == []


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=40))
def test_any_text_searches_without_raising(store: Store, text: str) -> None:
    assert isinstance(replica.search_skus(store.conn, text, 5), list)


@pytest.mark.parametrize(
    "text", ["TEE-", "tee", "MU", "马克杯", "红色", "圆领T恤", "Cotton blue", "book BO", "%", "o"]
)
def test_the_index_finds_what_a_scan_without_it_finds(store: Store, text: str) -> None:
    with_index = codes(store, text)
    with store.atomic() as conn:  # an SQLite without FTS5 trigram: migration 0009 made no index
        for name in ("sku_ai", "sku_ad", "sku_au"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE sku_fts")
    assert codes(store, text) == with_index


# --- docs/edge-store.md: read-only inspection --------------------------------------------

BACKLOG_SQL = """SELECT (SELECT value FROM meta WHERE key = 'last_seq')
        - (SELECT value FROM meta WHERE key = 'acked_through') AS backlog,
          (SELECT count(*) FROM outbox) AS outbox_rows,
          (SELECT count(*) FROM sku) AS skus,
          (SELECT count(*) FROM order_release) AS orders"""
SEARCH_SQL = """SELECT sku_code, name FROM sku WHERE rowid IN
     (SELECT rowid FROM sku_fts WHERE sku_fts MATCH '"马克杯"')"""
PY_BACKUP = """import sqlite3, sys
sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).backup(sqlite3.connect(sys.argv[2]))"""


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.e2e  # some twenty CLI processes: the whole suite runs it, test-fast does not
def test_the_documented_inspection_reads_and_cannot_write(store: Store, tmp_path: Path) -> None:
    db = store.path
    su = Path(sys.executable).parent / "sqlite-utils"
    ro = f"file:{db}?mode=ro"
    work = tmp_path / "operator"  # where the operator stands: nothing may appear here
    work.mkdir()
    # The daemon is mid-transaction, holding the write lock, with a change not yet committed.
    daemon = store.conn
    daemon.execute("BEGIN IMMEDIATE")
    daemon.execute("UPDATE meta SET value = 7 WHERE key = 'epoch'")
    store_files = sorted(p.name for p in db.parent.iterdir())
    db_bytes = db.read_bytes()

    out = _run(su, "query", ro, "SELECT key, value FROM meta", cwd=work)
    assert out.returncode == 0, out.stderr
    assert '{"key": "epoch", "value": 0}' in out.stdout  # committed state, not the open one
    out = _run(su, "query", ro, "--table", BACKLOG_SQL, cwd=work)
    assert out.returncode == 0, out.stderr
    assert "backlog" in out.stdout
    out = _run(su, "query", ro, "--table", SEARCH_SQL, cwd=work)
    assert out.returncode == 0, out.stderr
    assert "MUG-001" in out.stdout
    for write in ("UPDATE meta SET value = 99 WHERE key = 'epoch'", "CREATE TABLE x (a)"):
        out = _run(su, "query", ro, write, cwd=work)
        assert out.returncode != 0
        assert "readonly" in out.stderr

    snapshots = [work / "py-snapshot.db"]
    out = _run(sys.executable, "-c", PY_BACKUP, db, snapshots[0], cwd=work)
    assert out.returncode == 0, out.stderr
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli is not None:
        snapshots.append(work / "edge-snapshot.db")
        out = _run(sqlite3_cli, "-readonly", db, f".backup '{snapshots[1]}'", cwd=work)
        assert out.returncode == 0, out.stderr
        out = _run(sqlite3_cli, "-readonly", db, "UPDATE meta SET value = 99", cwd=work)
        assert out.returncode != 0
        assert "readonly" in out.stderr
    for snap in snapshots:
        out = _run(su, "tables", snap, "--counts", "--table", cwd=work)
        assert out.returncode == 0, out.stderr
        assert re.search(r"\bsku\s+4\b", out.stdout), out.stdout
        out = _run(su, "schema", snap, "sku", cwd=work)
        assert out.returncode == 0, out.stderr
        assert "STRICT" in out.stdout
        out = _run(su, "rows", snap, "journal", "--limit", "20", "--table", cwd=work)
        assert out.returncode == 0, out.stderr
        out = _run(
            su, "search", snap, "sku", "马克杯", "-c", "sku_code", "-c", "name", "--table", cwd=work
        )
        assert out.returncode == 0, out.stderr
        assert "MUG-001" in out.stdout
        assert "TEE" not in out.stdout

    assert sorted(p.name for p in work.iterdir()) == sorted(p.name for p in snapshots)
    assert sorted(p.name for p in db.parent.iterdir()) == store_files
    assert db.read_bytes() == db_bytes  # the main file: not one byte written
    daemon.execute("COMMIT")  # the daemon's transaction was never in the way, nor hurt
    assert store.epoch == 7
    assert store.integrity_ok()
