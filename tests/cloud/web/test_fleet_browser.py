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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cloud import accounts
from cloud.app import create_app
from cloud.db.models import Account
from cloud.settings import Settings
from simulators.broker import PrivateBroker
from tests.cloud.conftest import PASSWORD
from tests.support import free_port
from tests.support.browser import axe_violations, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[3]
NODE = "fleet-node-1"


@pytest.fixture
def hub(broker: PrivateBroker, tmp_path: Path) -> Iterator[tuple[str, str]]:
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
    yield f"http://127.0.0.1:{port}", name
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


def _row_until(page: Any, url: str, want: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        rows = [r for r in page.locator("tbody tr").all_inner_texts() if NODE in r]
        if rows and want in rows[0].split("\t")[1]:
            return rows[0]
        assert time.monotonic() < deadline, f"{NODE} not {want!r}: {rows}"
        time.sleep(0.5)


def test_a_killed_node_goes_offline_on_the_fleet_page(
    browser: Any, hub: tuple[str, str], node: subprocess.Popen[bytes]
) -> None:
    base, account = hub
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
    _row_until(page, f"{base}/web/fleet", "online")
    os.kill(node.pid, signal.SIGKILL)
    node.wait()
    row = _row_until(page, f"{base}/web/fleet", "offline")
    assert "offline" in row
    assert axe_violations(page) == []
    screenshot(page, "dashboard-fleet-offline")
    ctx.close()
