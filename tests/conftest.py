"""Shared fixtures: a private Mosquitto, and the databases every cloud test runs on."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import Engine, make_url, text
from sqlalchemy.pool import NullPool

from simulators.broker import PrivateBroker
from tests.support import compile_cache, route_cache
from tests.support.pgpool import PgPool

compile_cache.install()
route_cache.install()

# A refused login waits a second before its answer (cloud/settings.py); the tests that
# count refusals would only wait. tests/cloud/api/test_login_limits.py tests the pause.
os.environ.setdefault("GUANJIA_LOGIN_REFUSAL_DELAY_S", "0")
# Argon2 at its production cost (64 MiB, 3 passes) took over a second per hash here, and
# every logged-in test hashed twice; tests use a cheap cost (cloud/auth.py _argon2_cost).
# tests/cloud/api/test_password_cost.py checks the production default.
os.environ.setdefault("GUANJIA_ARGON2", "m=64,t=1,p=1")
# A hub warms each worker before its first request (cloud/serve/warmup.py): a few hundred
# ms of reads per app, and the suite starts an app per test. Tested on its own in
# tests/cloud/serve/test_warmup.py.
os.environ.setdefault("GUANJIA_WARM_ON_START", "0")
# Hubs built by other fixtures (module-scoped ones) do not post to the books behind a test's
# back either; tests/cloud/finance/test_poster.py ticks the poster by hand.
os.environ.setdefault("GUANJIA_FINANCE_POSTER", "0")

# make test-fast: fewer examples per property for the inner loop (make test keeps the default 100).
settings.register_profile("fast", max_examples=20)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="run the long-form fault tests")
    parser.addoption(
        "--seed-range",
        default=None,
        help="START:STOP: the seeds the long Shopify property tests run instead of theirs "
        "(a part of the long form that fits the time at hand)",
    )
    parser.addoption(
        "--fuzz-cases",
        type=int,
        default=200,
        help="generated cases per input kind in tests/fuzz (make fuzz: 100,000)",
    )


@pytest.fixture
def fuzz_cases(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--fuzz-cases"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fuzz table (issue 19): cases run per input kind and how each ended. The tallies
    come in the test reports (tests/fuzz/test_fuzz.py), so the table is whole under xdist."""
    from tests.fuzz.harness import TALLY_PROPERTY, Tally

    tallies = [
        Tally(**value)
        for reports in terminalreporter.stats.values()
        for r in reports
        if getattr(r, "when", None) == "call"
        for name, value in getattr(r, "user_properties", ())
        if name == TALLY_PROPERTY
    ]
    if not tallies:
        return
    tallies.sort(key=lambda t: t.kind)
    w = terminalreporter
    w.section("fuzz: cases per input kind")
    w.write_line(
        f"{'kind':44} {'cases':>9} {'accepted':>9} {'refused':>9} {'unclear':>8} {'crashes':>8} {'s':>7}"
    )
    for t in tallies:
        w.write_line(
            f"{t.kind:44} {t.cases:>9,} {t.accepted:>9,} {t.refused:>9,} {t.unclear:>8,} {t.crashes:>8,} {t.seconds:>7.1f}"
        )
    total = sum(t.cases for t in tallies)
    w.write_line(
        f"{'all kinds':44} {total:>9,}  crashes {sum(t.crashes for t in tallies)}, unclear {sum(t.unclear for t in tallies)}"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Test files (databases, edge stores, broker configs) on tmpfs where the machine has one.

    Every SQLite commit and PostgreSQL-free edge write fsyncs; on a virtual disk that was
    most of the suite's kernel time. Nothing here tests durability against a power cut (no
    test can pull the plug); kill -9 leaves the page cache, tmpfs or not. Off with
    GUANJIA_TEST_TMPFS=0 or an explicit --basetemp. xdist workers inherit the directory.
    """
    if (
        config.option.basetemp
        or hasattr(config, "workerinput")
        or os.environ.get("GUANJIA_TEST_TMPFS") == "0"
    ):
        return
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        config.option.basetemp = tempfile.mkdtemp(prefix="guanjia-tests-", dir=shm)
        config.stash[_TMPFS_BASETEMP] = Path(config.option.basetemp)


def pytest_unconfigure(config: pytest.Config) -> None:
    # A private directory in RAM: removed with the run (screenshots live in test-artifacts/).
    base = config.stash.get(_TMPFS_BASETEMP, None)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


_TMPFS_BASETEMP = pytest.StashKey[Path]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="long form: run with --long")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """A real Mosquitto on a free port with a config of its own (amqtt, loudly, if none)."""
    b = PrivateBroker(tmp_path_factory.mktemp("broker"))
    if b.kind != "mosquitto":
        warnings.warn(
            "no mosquitto binary: MQTT tests run against the embedded amqtt broker", stacklevel=1
        )
    b.start()
    yield b
    b.stop()


DATABASES = ["sqlite"]
if os.environ.get("GUANJIA_TEST_DATABASE_URL"):
    DATABASES.append("postgresql")


def _checkpointed(url: str) -> None:
    """Migrate the database at ``url`` to head and close it whole (no WAL left beside it)."""
    from cloud.db.engine import make_engine, migrate

    eng = make_engine(url)
    migrate(eng)
    # Closing SQLite's last connection checkpoints the WAL into the file and removes it.
    eng.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated once per session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("cloud-template") / "template.db"
    _checkpointed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[tuple[Engine, str]]:
    """One PostgreSQL database migrated once per session, the template of each test's own.

    Databases are created and dropped from the server's ``test`` database (the URL given),
    in autocommit: CREATE DATABASE runs outside a transaction. The template has no
    connection left open (CREATE DATABASE … TEMPLATE requires it).
    """
    from cloud.db.engine import make_engine

    base = os.environ["GUANJIA_TEST_DATABASE_URL"]
    admin = make_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _checkpointed(make_url(base).set(database=name).render_as_string(hide_password=False))
        yield admin, name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_pool(_pg_template: tuple[Engine, str]) -> Iterator[PgPool]:
    """This process's databases made from the template, reset and reused between tests."""
    admin, template = _pg_template
    pool = PgPool(admin, template, os.environ["GUANJIA_TEST_DATABASE_URL"])
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database migrated to head, at the state migrations leave it in.

    SQLite: a copy of the session's migrated template file. PostgreSQL: a database of this
    process's pool (tests/support/pgpool.py), made once from the migrated template database
    and emptied back to its state after each test. Migrating once and copying or resetting
    costs a fraction of migrating every test's database.
    """
    if request.param == "sqlite":
        path = tmp_path / "cloud.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    pool: PgPool = request.getfixturevalue("pg_pool")
    name = pool.take()
    try:
        yield pool.url_of(name)
    finally:
        pool.give_back(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    from cloud.db.engine import make_engine, migrate

    eng = make_engine(db_url)
    migrate(eng)  # at head already (a copy of the template): checks, changes nothing
    yield eng
    eng.dispose()
