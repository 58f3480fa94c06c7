"""``guanjia cloud event-stats``: what the hub holds of a node's stream, read through the CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine
from typer.testing import CliRunner

from cloud.cli import app
from edge.store.store import Store
from tests.sync.test_restore import NODE, scan, sync


def _stats(url: str, *extra: str) -> dict[str, object]:
    r = CliRunner().invoke(app, ["event-stats", "--database-url", url, *extra])
    assert r.exit_code == 0, r.output
    return dict(orjson.loads(r.output.strip().splitlines()[-1]))


def test_counts_every_event_once_and_a_lag_per_scan(tmp_path: Path, engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert _stats(url) == {"total": 0, "distinct": 0, "nodes_with_gaps": 0, "lag_ms": []}
    store = Store(tmp_path / "edge.db", NODE)
    store.start_epoch("test", "pack")
    for code in ("A", "B", "C"):
        scan(store, code)
    sync(store, engine)
    stats = _stats(url, "--lag-type", "scan.recorded")
    assert stats["total"] == stats["distinct"] == store.last_seq  # node.started + 3 scans
    assert stats["nodes_with_gaps"] == 0
    lags = stats["lag_ms"]
    assert isinstance(lags, list) and len(lags) == 3


def test_a_database_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["event-stats", "--database-url", f"sqlite:///{tmp_path / 'none' / 'hub.db'}"]
    )
    assert r.exit_code == 1
    assert "cannot read the hub's events" in r.output
    assert "Traceback" not in r.output
