"""Stocktake by scanner over the pick API (/api/v1/counts, edge/api/counts.py): blind
counting, exactly once per Idempotency-Key, rebuilt after a restart, bad input refused
with a code and nothing recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from edge.api.operators import Operator
from tests.edge.api.conftest import SKUS, Api, make_api

A, B, C = SKUS["A"], SKUS["B"], SKUS["C"]


def count_inputs(api: Api) -> list[str]:
    return [
        str(k) for (k,) in api.store.conn.execute("SELECT kind FROM count_input ORDER BY rowid")
    ]


def counted_fact(api: Api) -> list[dict[str, Any]]:
    return [e["payload"] for e in api.outbox("stocktake.counted")]


def test_partial_count_blind_then_submitted_once(api: Api) -> None:
    h = api.login()
    r = api.post("/counts/start", h, {"scope": "partial", "bins": ["P3", "P2"]}, key="k0")
    assert r.status_code == 200, r.text
    assert r.json()["count"]["bins"] == ["P2", "P3"]
    answers = [
        api.post("/counts/scan", h, {"barcode": code}, key=f"k{i}").json()
        for i, code in enumerate(["BIN-P2", A, A, "BIN-P3", B, "9999999"], start=1)
    ]
    assert [a["kind"] for a in answers] == [
        "bin.open",
        "item.counted",
        "item.counted",
        "bin.open",
        "item.counted",
        "item.unknown",
    ]
    view = api.client.get("/api/v1/counts/current", headers=h).json()
    assert view["counted"] == {"P2": {"A": 2}, "P3": {"B": 1}}
    # Blind: no answer carries the node's expected stock (5 of each).
    for body in [r.json(), *answers, view]:
        assert "expected" not in orjson.dumps(body).decode()
    done = api.post("/counts/finish", h, key="k9")
    assert done.status_code == 200
    again = api.post("/counts/finish", h, key="k9")  # the answer was lost: retried
    assert again.headers.get("Idempotent-Replayed") == "true"
    facts = counted_fact(api)
    assert len(facts) == 1
    lines = {(x["bin"], x["sku_code"]): (x["expected"], x["counted"]) for x in facts[0]["lines"]}
    assert lines == {("P2", "A"): (5, 2), ("P3", "B"): (5, 1)}
    assert facts[0]["scope"] == "partial" and facts[0]["missed_bins"] == []
    assert api.client.get("/api/v1/counts/current", headers=h).json()["count_id"] is None


def test_retried_scan_counts_once_and_a_reused_key_is_refused(api: Api) -> None:
    h = api.login()
    api.post("/counts/start", h, {"scope": "partial", "bins": ["P2"]}, key="s")
    api.post("/counts/scan", h, {"barcode": "BIN-P2"}, key="b")
    first = api.post("/counts/scan", h, {"barcode": A}, key="x")
    second = api.post("/counts/scan", h, {"barcode": A}, key="x")
    assert first.json()["count"] == second.json()["count"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    reused = api.post("/counts/scan", h, {"barcode": B}, key="x")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert count_inputs(api) == ["CountStarted", "BinScanned", "ItemScanned"]
    view = api.client.get("/api/v1/counts/current", headers=h).json()
    assert view["counted"] == {"P2": {"A": 1}}


def test_full_count_reports_missed_bins(api: Api) -> None:
    h = api.login()
    api.post("/counts/start", h, {"scope": "full"}, key="s")
    for i, code in enumerate(["BIN-P4", C, C, C, C, C]):
        api.post("/counts/scan", h, {"barcode": code}, key=f"c{i}")
    api.post("/counts/finish", h, key="f")
    (fact,) = counted_fact(api)
    assert fact["missed_bins"] == ["P1", "P2", "P3"]
    assert [(x["bin"], x["counted"]) for x in fact["lines"]] == [("P4", 5)]


def test_bad_input_refused_with_a_code_nothing_recorded(api: Api) -> None:
    h = api.login()
    r = api.post("/counts/scan", h, {"barcode": A}, key="a")
    assert r.status_code == 409 and r.json()["code"] == "no_count"
    r = api.post("/counts/start", h, {"scope": "partial", "bins": ["P2", "NOPE"]}, key="b")
    assert r.status_code == 422 and r.json()["code"] == "count_bad_scope"
    assert "NOPE" in r.json()["detail"]
    r = api.post("/counts/start", h, {"scope": "everything"}, key="c")
    assert r.status_code == 422
    assert count_inputs(api) == []
    api.post("/counts/start", h, {"scope": "partial", "bins": ["P2"]}, key="d")
    r = api.post("/counts/start", h, {"scope": "partial", "bins": ["P3"]}, key="e")
    assert r.status_code == 409 and r.json()["code"] == "count_running"
    r = api.post("/counts/recount", h, key="f")
    assert r.status_code == 409 and r.json()["code"] == "count_no_bin"
    r = api.post("/counts/scan", h, {"barcode": "x" * 10_000}, key="g")
    assert r.status_code == 422
    api.post("/counts/scan", h, {"barcode": "BIN-P2"}, key="h")
    r = api.post("/counts/scan", h, {"barcode": "69\x0700"}, key="i")
    assert r.status_code == 200 and r.json()["kind"] == "scan.unreadable"
    assert api.client.get("/api/v1/counts/current", headers=h).json()["counted"] == {}
    viewer = api.login("viewer")
    r = api.post("/counts/start", viewer, {"scope": "full"}, key="j")
    assert r.status_code == 403


def test_count_survives_a_restart(db: Path, operators: list[Operator]) -> None:
    gen = make_api(db, operators)
    api = next(gen)
    h = api.login()
    api.post("/counts/start", h, {"scope": "partial", "bins": ["P2"]}, key="s")
    api.post("/counts/scan", h, {"barcode": "BIN-P2"}, key="b")
    api.post("/counts/scan", h, {"barcode": A}, key="a1")
    gen.close()
    gen = make_api(db, operators)
    api = next(gen)
    h = api.login()
    # The retry of the last scan after the restart is a replay; the count goes on.
    r = api.post("/counts/scan", h, {"barcode": A}, key="a1")
    assert r.headers.get("Idempotent-Replayed") == "true"
    api.post("/counts/scan", h, {"barcode": A}, key="a2")
    api.post("/counts/finish", h, key="f")
    (fact,) = counted_fact(api)
    assert [(x["sku_code"], x["counted"]) for x in fact["lines"]] == [("A", 2)]
    gen.close()
