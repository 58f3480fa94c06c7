"""/metrics on the pick API: scans, verdicts by kind, latency, logins, backlog; the helpers."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from edge.ops import metrics
from tests.edge.api.conftest import SKUS, Api
from tests.edge.api.test_pick_flow import start


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_endpoint_counts_scans_verdicts_latency_and_backlog(api: Api) -> None:
    before = scrape(api)  # the registry is process-wide: compare deltas
    h = api.login()
    start(api, h)
    api.scan(h, "BIN-P3")  # wrong bin
    api.scan(h, "BIN-P4")
    api.scan(h, SKUS["C"])
    api.client.post("/api/v1/login", json={"operator": "li.lei", "pin": "0000"})
    after = scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("guanjia_edge_scans_total", station="pick") == 3
    assert delta("guanjia_edge_verdicts_total", station="pick", kind="bin.wrong") == 1
    assert delta("guanjia_edge_verdicts_total", station="pick", kind="bin.ok") == 1
    assert delta("guanjia_edge_verdicts_total", station="pick", kind="item.ok") == 1
    assert delta("guanjia_edge_verdicts_total", station="pick", kind="wave.loaded") == 1
    assert delta("guanjia_edge_scan_verdict_seconds_count", station="pick") == 3
    assert delta("guanjia_edge_scan_verdict_seconds_sum", station="pick") > 0
    assert delta("guanjia_edge_logins_total", outcome="ok") == 1
    assert delta("guanjia_edge_logins_total", outcome="bad_pin") == 1
    # Gauges are read from the store at scrape time.
    assert value(after, "guanjia_edge_sync_last_seq") == api.store.last_seq
    assert value(after, "guanjia_edge_sync_backlog_events") == api.store.backlog() >= 1
    assert value(after, "process_resident_memory_bytes") > 0


def test_helpers_and_standalone_server() -> None:
    metrics.set_device("scanner-1", "scanner", connected=False)
    metrics.set_backlog(7, acked_through=3, last_seq=10, oldest_unacked_age_s=2.5)
    reg = metrics.REGISTRY
    assert (
        reg.get_sample_value(
            "guanjia_edge_device_connected", {"device": "scanner-1", "kind": "scanner"}
        )
        == 0
    )
    metrics.set_device("scanner-1", "scanner", connected=True)
    server = metrics.serve_metrics(0, "127.0.0.1")
    try:
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
    assert 'guanjia_edge_device_connected{device="scanner-1",kind="scanner"} 1.0' in text
    assert "guanjia_edge_sync_backlog_events 7.0" in text
    assert "guanjia_edge_sync_oldest_unacked_age_seconds 2.5" in text
    before = (
        reg.get_sample_value("guanjia_edge_verdicts_total", {"station": "pack", "kind": "x"}) or 0
    )
    seconds_before = reg.get_sample_value(
        "guanjia_edge_scan_verdict_seconds_count", {"station": "pack"}
    )
    metrics.observe_verdict("x", station="pack")
    assert (
        reg.get_sample_value("guanjia_edge_verdicts_total", {"station": "pack", "kind": "x"})
        == before + 1
    )
    # Without a duration a verdict is counted but adds no latency sample.
    assert (
        reg.get_sample_value("guanjia_edge_scan_verdict_seconds_count", {"station": "pack"})
        == seconds_before
    )
