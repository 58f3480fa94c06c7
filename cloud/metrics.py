"""The hub's Prometheus metrics (served at ``GET /metrics``, cloud/api/metrics.py).

What they answer: is ingest keeping up (events and batches applied, how many batches a
group commit carries, how long a group takes), how the API answers (latency by route
template, so ``/api/v1/orders/{order_no}`` is one series however many orders there are),
and whether the database pool is the bottleneck (connections checked out beside its size).

``serve --workers N`` runs N processes; each would count only its own requests. So the
supervisor gives them one directory (``PROMETHEUS_MULTIPROC_DIR``, made afresh per serve,
set before any worker imports prometheus_client) and prometheus_client's multiprocess mode
adds their figures up at every scrape: counters and histograms summed, the pool gauges
summed over the workers alive (a dead worker's files are dropped by the supervisor). One
process (``--workers 1``, tests) uses the default in-process registry.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine, event

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

INGEST_EVENTS = Counter(
    "guanjia_ingest_events_applied", "Edge events applied (stored; duplicates not counted)"
)
INGEST_BATCHES = Counter("guanjia_ingest_batches_applied", "Edge event batches applied")
INGEST_GROUP = Histogram(
    "guanjia_ingest_group_batches",
    "Batches applied together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
INGEST_APPLY = Histogram(
    "guanjia_ingest_apply_seconds",
    "Time to apply one group of batches, commit included",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_LATENCY = Histogram(
    "guanjia_api_request_seconds",
    "API requests by method and route template, until the answer is sent",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
#: Marketplace webhooks by answer: outcome accepted, duplicate, ignored, refunded, unusable
#: or refused (with the refusal's reason: bad_signature, stale, wrong_shop, no_time,
#: no_event_id); cloud/api/channel_webhooks.py. A few fixed labels: no series per shop.
WEBHOOKS = Counter(
    "guanjia_channel_webhooks",
    "Marketplace webhooks received, by platform, outcome and refusal reason",
    ["platform", "outcome", "reason"],
)
POOL_CHECKED_OUT = Gauge(
    "guanjia_db_pool_checked_out",
    "Database connections in use",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "guanjia_db_pool_size",
    "Database connections the pool keeps",
    ["pool"],
    multiprocess_mode="livesum",
)


def watch_pool(engine: Engine, name: str) -> None:
    """Count ``engine``'s connections in use, and report its size, as pool ``name``."""
    size = getattr(engine.pool, "size", None)
    if callable(size):
        POOL_SIZE.labels(name).set(size())
    out = POOL_CHECKED_OUT.labels(name)

    def _checkout(*_args: Any) -> None:
        out.inc()

    def _checkin(*_args: Any) -> None:
        out.dec()

    event.listen(engine, "checkout", _checkout)
    event.listen(engine, "checkin", _checkin)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric, every worker's when several serve."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        # prometheus-client leaves this constructor unannotated; it registers itself.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
