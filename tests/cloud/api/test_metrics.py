"""GET /metrics: off without a token, guarded by it, and the figures move with the work."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from cloud.app import create_app
from cloud.settings import Settings
from protocol import codec, topics
from simulators.broker import PrivateBroker
from tests.cloud.conftest import make_account
from tests.cloud.sync.test_worker_mqtt import NODE, _run, ev

TOKEN = "scrape-token"


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


@pytest.fixture
def metrics_client(db_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        mqtt_host="",
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        metrics_token=TOKEN,
    )
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def test_metrics_are_off_without_a_token(app_client: TestClient) -> None:
    assert app_client.get("/metrics").status_code == 404


def test_metrics_need_the_token(metrics_client: TestClient) -> None:
    assert metrics_client.get("/metrics").status_code == 401
    r = metrics_client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert "/metrics" not in metrics_client.app.openapi()["paths"]  # type: ignore[attr-defined]


def test_figures_move_with_api_calls_and_ingest(
    metrics_client: TestClient, broker: PrivateBroker, engine: Engine
) -> None:
    c = metrics_client
    latency = ("guanjia_api_request_seconds_count", (("method", "GET"), ("route", "/api/v1/skus")))
    events = ("guanjia_ingest_events_applied_total", ())
    batches = ("guanjia_ingest_batches_applied_total", ())
    applies = ("guanjia_ingest_apply_seconds_count", ())
    before = _samples(c)
    c.headers.update(make_account(c, "default", account_id=1))
    for _ in range(3):
        assert c.get("/api/v1/skus").status_code == 200
    assert c.get("/api/v1/no-such-route").status_code == 404
    batch = codec.encode_batch(NODE, [ev(1), ev(2), ev(3)])
    asyncio.run(_run(broker, engine, [(topics.topic(NODE, topics.Channel.EVENTS), batch)], 3))
    after = _samples(c)

    assert after[latency] - before.get(latency, 0) == 3
    unmatched = ("guanjia_api_request_seconds_count", (("method", "GET"), ("route", "unmatched")))
    assert after[unmatched] - before.get(unmatched, 0) >= 1
    assert after[events] - before.get(events, 0) == 3
    assert after[batches] - before.get(batches, 0) == 1
    assert after[applies] - before.get(applies, 0) == 1
    assert after[("guanjia_db_pool_size", (("pool", "main"),))] >= 1
    assert ("guanjia_db_pool_checked_out", (("pool", "main"),)) in after
