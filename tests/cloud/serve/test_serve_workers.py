"""``guanjia cloud serve --workers 2``: two processes that behave as one hub.

Real processes over real sockets: a token signed by one worker is accepted by the other
(the secret is drawn once, before they start), and an edge daemon's stream is applied
exactly once while both workers share the ingest through a ``$share`` subscription.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.seed import seed_demo
from simulators.broker import PrivateBroker
from simulators.net import free_port
from tests.support import wait
from tests.sync.harness import EdgeDaemon, Feeder, cloud_acked, cloud_events

pytestmark = pytest.mark.e2e

CLIENT_ID = "serve-workers-test"
METRICS_TOKEN = "workers-metrics"


def _scrape(base: str) -> dict[str, float]:
    """One scrape (answered by either worker): every worker's figures added up."""
    text = httpx.get(
        base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_two_workers_share_tokens_and_ingest(broker: PrivateBroker, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    with transaction(session_factory(engine)) as s:
        seed_demo(s, datetime.now(UTC), password="workers-pass", node_ids=[])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANJIA_")}
    env["GUANJIA_MQTT_CLIENT_ID"] = CLIENT_ID
    env["GUANJIA_METRICS_TOKEN"] = METRICS_TOKEN
    hub = subprocess.Popen(
        [
            *(sys.executable, "-m", "cloud", "serve", "--workers", "2"),
            *("--port", str(port), "--database-url", url, "--mqtt-port", str(broker.port)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "hub.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    edge = EdgeDaemon(tmp_path, broker.port)
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(base + "/api/v1/health", timeout=1).json()["mqtt"] == "connected"
            except (httpx.HTTPError, KeyError, ValueError):
                return False

        wait(healthy, 60, "the hub's health with MQTT connected")
        # Both workers hold their own MQTT connection, under their own client ids.
        wait(
            lambda: (
                len(
                    set(
                        re.findall(
                            rf"as ({CLIENT_ID}-\d+)",
                            (broker.workdir / f"{broker.kind}.log").read_text(errors="replace"),
                        )
                    )
                )
                >= 2
            ),
            30,
            "two ingest clients on the broker",
        )
        token = httpx.post(
            base + "/api/v1/auth/token",
            data={"account": "demo", "username": "admin", "password": "workers-pass"},
            timeout=30,
        ).json()["access_token"]
        # A new connection each time: the kernel hands them to either worker.
        statuses = [
            httpx.get(
                base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).status_code
            for _ in range(40)
        ]
        assert statuses == [200] * 40
        me = "guanjia_api_request_seconds_count[('method', 'GET'), ('route', '/api/v1/auth/me')]"
        # Whichever worker answers, it reports both workers' requests (multiprocess mode).
        assert [_scrape(base)[me] for _ in range(6)] == [40.0] * 6

        edge.start()
        with Feeder(edge.scanner_port, interval=0.005):
            wait(lambda: edge.last_seq() >= 300, 30, "300 scans on the node")
        wait(lambda: cloud_acked(engine) == edge.last_seq(), 60, "the hub to ack every event")
        count, top, _ = cloud_events(engine)
        assert count == top == edge.last_seq()  # each (node, seq) once, none missing
        for _ in range(4):
            assert _scrape(base)["guanjia_ingest_events_applied_total[]"] == count
    finally:
        edge.stop()
        hub.terminate()
        try:
            hub.wait(15)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        engine.dispose()
