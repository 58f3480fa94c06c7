"""Prometheus metrics of an edge node: scans, verdicts, latency, device health, sync backlog.

All metrics live in one :data:`REGISTRY` (not prometheus_client's global one), so a
process that embeds the node in something else exports only what it means to, and
tests read values with ``REGISTRY.get_sample_value``. The process/platform/GC
collectors are registered too: resident memory and open file descriptors are the first
things to look at on a Raspberry-Pi-class node.

Callers use the helper functions, not the metric objects, so label names stay in one
place. Label values are bounded sets (station kinds, verdict kinds, device names from
the config); never put a barcode, order id or operator in a label.

Expose them with :func:`serve_metrics` (its own port, for the node daemon) or mount
:data:`metrics_app` / :func:`make_metrics_app` in an ASGI app (the pick API does so at
``/metrics``). Names are listed in docs/pick-api.md, "Metrics".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_asgi_app,
    start_http_server,
)

log = logging.getLogger(__name__)

REGISTRY: Final = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

#: Scan-to-verdict latency buckets (seconds). The operator feels anything above ~100 ms
#: (a green light that lags the beep of the scanner); fsync on an SD card is 5-30 ms.
LATENCY_BUCKETS: Final = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SCANS: Final = Counter(
    "guanjia_edge_scans",
    "Barcodes scanned at a station and handled (the counter is exported as _total).",
    ["station"],
    registry=REGISTRY,
)
VERDICTS: Final = Counter(
    "guanjia_edge_verdicts",
    "Station journal verdicts by kind (item.ok, bin.wrong, stop.short, ...).",
    ["station", "kind"],
    registry=REGISTRY,
)
VERDICT_LATENCY: Final = Histogram(
    "guanjia_edge_scan_verdict_seconds",
    "From receiving a scan to its verdict being committed (the moment it may be shown).",
    ["station"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
DEVICE_CONNECTED: Final = Gauge(
    "guanjia_edge_device_connected",
    "1 while a device (scanner, scale, printer, lights, reader) is connected, else 0.",
    ["device", "kind"],
    registry=REGISTRY,
)
SYNC_BACKLOG: Final = Gauge(
    "guanjia_edge_sync_backlog_events",
    "Outbox events the cloud has not acknowledged yet.",
    registry=REGISTRY,
)
SYNC_ACKED: Final = Gauge(
    "guanjia_edge_sync_acked_through",
    "Highest outbox sequence the cloud has acknowledged (cumulative).",
    registry=REGISTRY,
)
SYNC_LAST_SEQ: Final = Gauge(
    "guanjia_edge_sync_last_seq",
    "Highest outbox sequence written on this node.",
    registry=REGISTRY,
)
SYNC_OLDEST_AGE: Final = Gauge(
    "guanjia_edge_sync_oldest_unacked_age_seconds",
    "Age of the oldest unacknowledged outbox event (0 when none).",
    registry=REGISTRY,
)
STORE_WRITABLE: Final = Gauge(
    "guanjia_edge_store_writable",
    "1 while the node's store takes commits; 0 on a full, read-only or failing disk.",
    registry=REGISTRY,
)
LOGINS: Final = Counter(
    "guanjia_edge_logins",
    "Operator PIN logins by outcome (ok, bad_pin, locked, limited).",
    ["outcome"],
    registry=REGISTRY,
)


def count_scan(station: str = "pick") -> None:
    """One barcode received by ``station`` (a station kind: pick, pack, stocktake...)."""
    SCANS.labels(station=station).inc()


def observe_verdict(kind: str, seconds: float | None = None, station: str = "pick") -> None:
    """Count one verdict of ``kind``; with ``seconds``, also observe scan-to-verdict latency.

    Call it after the verdict's record is committed (docs/sync.md, "Durable first"):
    that is the earliest moment the light may show it.
    """
    VERDICTS.labels(station=station, kind=kind).inc()
    if seconds is not None:
        VERDICT_LATENCY.labels(station=station).observe(max(0.0, seconds))


def set_device(name: str, kind: str, connected: bool) -> None:
    """Device health: call from a driver's health change (DeviceHealth.connected)."""
    DEVICE_CONNECTED.labels(device=name, kind=kind).set(1 if connected else 0)


def set_backlog(
    backlog: int,
    *,
    acked_through: int | None = None,
    last_seq: int | None = None,
    oldest_unacked_age_s: float | None = None,
) -> None:
    """Sync state, from ``Store.backlog()`` / ``acked_through`` / ``last_seq`` / ``oldest_unacked_age_s()``."""
    SYNC_BACKLOG.set(backlog)
    if acked_through is not None:
        SYNC_ACKED.set(acked_through)
    if last_seq is not None:
        SYNC_LAST_SEQ.set(last_seq)
    SYNC_OLDEST_AGE.set(oldest_unacked_age_s or 0.0)


def watch_store(writable: Callable[[], bool]) -> None:
    """Read the store's health at each scrape (``Store.fault is None``)."""
    STORE_WRITABLE.set_function(lambda: 1.0 if writable() else 0.0)


def count_login(outcome: str) -> None:
    LOGINS.labels(outcome=outcome).inc()


ASGIApp = Callable[..., Any]


class _RefreshingMetrics:
    """An ASGI app (a class, so Starlette's ``Route`` treats it as one, not as an endpoint)."""

    def __init__(self, before_scrape: Callable[[], None] | None) -> None:
        self._inner: ASGIApp = make_asgi_app(registry=REGISTRY)
        self._before = before_scrape

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._before is not None and scope.get("type") == "http":
            try:
                self._before()
            except Exception:
                log.exception("metrics refresh failed; serving the last values")
        await self._inner(scope, receive, send)


def make_metrics_app(before_scrape: Callable[[], None] | None = None) -> ASGIApp:
    """An ASGI app serving :data:`REGISTRY` in the text exposition format.

    ``before_scrape`` runs first on every request (e.g. refresh the backlog gauges from
    the store); an exception in it is logged and the scrape is still answered.
    """
    return _RefreshingMetrics(before_scrape)


#: Mount it anywhere: ``app.mount("/metrics", metrics_app)``.
metrics_app: Final = make_metrics_app()


def serve_metrics(port: int, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve :data:`REGISTRY` on ``http://addr:port/metrics`` from a daemon thread.

    Returns the server (``shutdown()`` stops it); ``port=0`` picks a free port
    (``server.server_port``).
    """
    server, _thread = start_http_server(port, addr=addr, registry=REGISTRY)
    log.info(
        "metrics on %s:%d/metrics",
        addr,
        server.server_port,
        extra={"metrics_port": server.server_port},
    )
    return server
