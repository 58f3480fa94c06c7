"""The fleet page watches a real node: online while `guanjia edge run` is connected, offline
once its process is killed (the broker publishes the node's last will; ingest stores it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cloud import accounts
from cloud.app import create_app
from cloud.db.models import Account, NodeSample
from cloud.settings import Settings
from simulators.broker import PrivateBroker
from tests.cloud.conftest import PASSWORD
from tests.support import free_port
from tests.support.browser import axe_violations, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[3]
NODE = "fleet-node-1"


@pytest.fixture
def hub(broker: PrivateBroker, tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        mqtt_port=broker.port,
        mqtt_client_id="cloud-fleet-test",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
    )
    app = create_app(settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with app.state.sessions() as s, s.begin():  # the default account sees unrecorded nodes
        now = datetime.now(UTC)
        accounts.create_user(s, 1, "lead", PASSWORD, "warehouse_lead", "test", now)
        name = s.get_one(Account, 1).name
    yield f"http://127.0.0.1:{port}", name, app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def node(broker: PrivateBroker, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        f'[node]\nid = "{NODE}"\ndata_dir = "{tmp_path / "edge"}"\n\n'
        f"[mqtt]\nport = {broker.port}\n\n"
        f'[station]\nkind = "demo"\nname = "demo-1"\n\n[scanner]\nport = {free_port()}\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _row_until(page: Any, want: str, timeout: float = 30.0) -> str:
    """The node's row once its presence cell says ``want``: read again as htmx swaps the rows
    in (docs/dashboard.md: the table polls ``?part=rows``), never by reloading the page."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in page.locator("#fleet-rows tr").all_inner_texts() if NODE in r]
        # A row read while htmx swaps the table in may not have its cells yet: read again.
        cells = rows[0].split("\t") if rows else []
        if len(cells) > 1 and want in cells[1]:
            return str(rows[0])
        assert time.monotonic() < deadline, f"{NODE} not {want!r}: {rows}"
        time.sleep(0.25)


def test_a_killed_node_goes_offline_on_the_fleet_page(
    browser: Any, hub: tuple[str, str, Any], node: subprocess.Popen[bytes]
) -> None:
    base, account, hub_app = hub
    ctx = browser.new_context(
        viewport={"width": 1366, "height": 768}, bypass_csp=True, locale="en-US"
    )
    page = ctx.new_page()
    page.goto(f"{base}/web/login")
    page.fill("#account", account)
    page.fill("#username", "lead")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/web/")
    page.goto(f"{base}/web/fleet")
    # A mark on this document: gone if anything reloaded the page or navigated away.
    page.evaluate("window.__notReloaded = true")
    _row_until(page, "online")
    os.kill(node.pid, signal.SIGKILL)
    node.wait()
    row = _row_until(page, "offline")
    assert "offline" in row
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    assert page.url == f"{base}/web/fleet"
    assert axe_violations(page) == []
    screenshot(page, "dashboard-fleet-offline")
    # the node's own page: its figures, history chart (uPlot drew it) and table, over two
    # hours of samples as the hub keeps them (one a minute)
    with hub_app.state.sessions() as s, s.begin():
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
        for i in range(118):
            s.add(
                NodeSample(
                    node_id=NODE,
                    at=start + timedelta(minutes=i),
                    online=True,
                    backlog=(i * 7) % 40,
                    oldest_unacked_age_s=(i * 3) % 25 / 2,
                    sync_lag_ms=200 + (i * 37) % 900,
                )
            )
    page.click(f"#fleet-rows a:text-is('{NODE}')")
    page.wait_for_url(f"{base}/web/fleet/{NODE}")
    page.wait_for_selector("#backlog-chart .uplot", timeout=30_000)
    assert page.locator("h1").inner_text() == f"Node {NODE}"
    assert axe_violations(page) == []
    screenshot(page, "dashboard-fleet-node")
    page.goto(f"{base}/web/pick-leases")
    assert page.locator("h1").inner_text() == "Pick leases"
    assert axe_violations(page) == []
    screenshot(page, "dashboard-pick-leases")
    ctx.close()
