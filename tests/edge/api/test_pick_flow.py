"""A wave picked over HTTP: route order, bin then item, verdicts, short picks, substitutes, facts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.api.operators import Operator
from protocol.messages import OrderReleased
from tests.edge.api.conftest import ORDERS, SKUS, STATION, Api, Clock, feed, make_api, order

# The route (conftest's layout): P4 -> P3 -> P2 is 10 m; walk order P2 -> P3 -> P4 is 11 m.
ROUTE = [("P4", "C", 2), ("P3", "B", 1), ("P2", "A", 3)]


def start(api: Api, h: dict[str, str], wave: str = "W1") -> Any:
    r = api.post(f"/waves/{wave}/start", h)
    assert r.status_code == 200, r.text
    return r.json()


def picked(api: Api) -> dict[str, list[dict[str, Any]]]:
    return {e["payload"]["order_id"]: e["payload"]["lines"] for e in api.outbox("order.picked")}


def test_full_wave_in_route_order(api: Api) -> None:
    h = api.login()
    waves = api.client.get("/api/v1/waves", headers=h).json()
    assert waves[0] == {
        "wave": "W1",
        "orders": 2,  # O4 is on hold: not part of the wave
        "units": 6,
        "status": "available",
        "operator": None,
        "kind": "wave",
    }
    preview = api.client.get("/api/v1/picks/W1", headers=h).json()
    assert preview["state"] == "not_started"
    assert api.outbox("order.picked") == []

    res = start(api, h)
    assert (res["verdict"], res["kind"], res["signal"]) == ("ok", "wave.loaded", "prompt")
    assert "route 10 m (walk order 11 m)" in res["text"]
    listing = api.client.get("/api/v1/picks/W1", headers=h).json()
    assert [(s["bin"], s["sku_code"], s["qty"]) for s in listing["stops"]] == ROUTE
    assert (listing["route_m"], listing["naive_route_m"]) == (10.0, 11.0)
    assert listing["stops"][2]["orders"] == ["O1", "O2"]

    for i, (bin_code, sku, qty) in enumerate(ROUTE):
        cur = api.client.get("/api/v1/picks/current", headers=h).json()
        assert cur["expect"] == "bin" and cur["stop"]["bin"] == bin_code
        assert cur["stop"]["bin_barcode"] == f"BIN-{bin_code}"
        assert cur["progress"]["stops_done"] == i
        r = api.scan(h, f"BIN-{bin_code}")
        assert (r["verdict"], r["kind"], r["signal"], r["expect"]) == ("ok", "bin.ok", "ok", "item")
        for n in range(1, qty + 1):
            r = api.scan(h, SKUS[sku])
            if n < qty:
                assert (r["verdict"], r["kind"], r["next"]["picked"]) == ("ok", "item.ok", n)
    assert (r["verdict"], r["kind"], r["signal"], r["state"]) == (
        "complete",
        "wave.done",
        "complete",
        "done",
    )
    assert r["next"] is None and r["progress"]["units_picked"] == 6
    assert len(r["facts"]) == 2  # one order.picked per order, committed with the last scan

    facts = picked(api)
    assert facts["O1"] == [
        {
            "line_id": "O1-1",
            "sku_code": "B",
            "qty": 1,
            "bin": "P3",
            "short": False,
            "substitute_for": None,
        },
        {
            "line_id": "O1-0",
            "sku_code": "A",
            "qty": 2,
            "bin": "P2",
            "short": False,
            "substitute_for": None,
        },
    ]
    assert {(ln["sku_code"], ln["qty"]) for ln in facts["O2"]} == {("C", 2), ("A", 1)}
    assert all(e["payload"]["operator"] == "li.lei" for e in api.outbox("order.picked"))
    assert all(e["payload"]["station"] == STATION for e in api.outbox("order.picked"))
    assert api.movements() == [
        (f"{STATION}:W1:0:C", "P4", "C", -2),
        (f"{STATION}:W1:1:B", "P3", "B", -1),
        (f"{STATION}:W1:2:A", "P2", "A", -3),
    ]
    # The journal has every verdict, durable before it was shown.
    kinds = [k for (k,) in api.store.conn.execute("SELECT kind FROM journal ORDER BY id")]
    assert kinds[0] == "wave.loaded" and kinds[-1] == "wave.done" and kinds.count("bin.ok") == 3
    assert api.client.get("/api/v1/picks/current", headers=h).json()["wave"] is None
    waves = {w["wave"]: w for w in api.client.get("/api/v1/waves", headers=h).json()}
    assert (waves["W1"]["status"], waves["W1"]["operator"]) == ("done", "li.lei")
    done = api.client.get("/api/v1/picks/W1", headers=h).json()
    assert done["state"] == "done" and all(s["done"] for s in done["stops"])


def test_bad_scans_get_verdicts_and_change_nothing(api: Api) -> None:
    h = api.login()
    start(api, h)
    cases = [
        (SKUS["C"], "bin_first", "item.before_bin", "wrong_item"),
        ("BIN-P3", "wrong_bin", "bin.wrong", "wrong_item"),
        ("NO-SUCH-BIN", "unknown", "bin.wrong", "unknown"),
        ("BIN-\x00\x1b", "unreadable", "scan.unreadable", "unknown"),
    ]
    for barcode, verdict, kind, signal in cases:
        r = api.scan(h, barcode)
        assert (r["verdict"], r["kind"], r["signal"]) == (verdict, kind, signal), barcode
        assert r["expect"] == "bin" and r["next"]["bin"] == "P4"
    assert api.scan(h, "BIN-P4")["expect"] == "item"
    cases = [
        (SKUS["A"], "wrong_item", "item.wrong", "wrong_item"),
        ("6999999999999", "unknown", "item.unknown", "unknown"),
        ("69\t01", "unreadable", "scan.unreadable", "unknown"),
        ("BIN-P2", "wrong_bin", "bin.wrong", "wrong_item"),
        ("BIN-P4", "notice", "bin.again", "notice"),
    ]
    for barcode, verdict, kind, signal in cases:
        r = api.scan(h, barcode)
        assert (r["verdict"], r["kind"], r["signal"]) == (verdict, kind, signal), barcode
        assert r["expect"] == "item" and r["next"]["picked"] == 0
    journal = api.store.conn.execute(
        "SELECT barcode FROM journal WHERE kind = 'scan.unreadable' ORDER BY id"
    ).fetchall()
    assert journal == [(repr("BIN-\x00\x1b"),), (repr("69\t01"),)]  # journalled as repr()
    assert api.movements() == [] and api.outbox("order.picked") == []


def test_double_read_is_recorded_not_counted(db: Path, operators: list[Operator]) -> None:
    clock = Clock()
    for api in make_api(db, operators, clock):
        h = api.login()
        start(api, h)
        api.scan(h, "BIN-P4")
        assert api.scan(h, SKUS["C"])["next"]["picked"] == 1
        clock.step = 10  # one clock reading per request: the same code again 10 ms later
        r = api.scan(h, SKUS["C"])
        assert (r["verdict"], r["kind"], r["next"]["picked"]) == ("duplicate", "scan.duplicate", 1)


def test_short_pick_and_substitution_are_flagged_in_the_facts(api: Api) -> None:
    h = api.login()
    start(api, h)
    # Stop 1 (P4, 2 × C): one C, then the bin is empty -> short.
    assert api.post("/substitute", h).json()["code"] == "bin_first"
    api.scan(h, "BIN-P4")
    api.scan(h, SKUS["C"])
    r = api.post("/short", h)
    assert r.status_code == 200
    res = r.json()
    assert (res["verdict"], res["kind"], res["signal"]) == ("short", "stop.short", "notice")
    assert res["next"]["bin"] == "P3"
    # Stop 2 (P3, 1 × B): the picker takes S instead.
    api.scan(h, "BIN-P3")
    r = api.post("/substitute", h)
    assert (r.json()["verdict"], r.json()["expect"]) == ("substitute", "substitute")
    again = api.post("/substitute", h)
    assert again.status_code == 409 and again.json()["code"] == "already_substituting"
    res = api.scan(h, SKUS["S"])
    assert res["next"]["bin"] == "P2"
    # Stop 3 (P2, 3 × A): the bin is empty on arrival -> short with nothing picked.
    res = api.post("/short", h).json()
    assert (res["verdict"], res["state"]) == ("complete", "done")
    facts = picked(api)
    o1 = {(ln["sku_code"], ln["qty"], ln["short"], ln["substitute_for"]) for ln in facts["O1"]}
    assert o1 == {("S", 1, False, "B"), ("A", 0, True, None)}
    o2 = {(ln["sku_code"], ln["qty"], ln["short"], ln["substitute_for"]) for ln in facts["O2"]}
    assert o2 == {("C", 1, True, None), ("A", 0, True, None)}
    assert [(b, s, d) for _, b, s, d in api.movements()] == [("P4", "C", -1), ("P3", "S", -1)]
    listing = api.client.get("/api/v1/picks/W1", headers=h).json()
    assert [(s["short"], s["substitutes"]) for s in listing["stops"]] == [
        (True, {}),
        (False, {"S": 1}),
        (True, {}),
    ]


def test_order_cancelled_mid_wave_comes_back_as_an_alert(api: Api) -> None:
    h = api.login()
    start(api, h)
    o2 = next(o for o in ORDERS if o.order_id == "O2")
    feed(
        api.store,
        OrderReleased(
            seq=1, payload=order("O2", "W1", ("A", 1), ("C", 2), status="cancelled", version=2)
        ),
    )
    assert o2.version == 1
    r = api.scan(h, "BIN-P3")  # stop 1 (C for O2) vanished: P3 is now the stop
    assert [a["kind"] for a in r["alerts"]] == ["order.do_not_ship"]
    assert r["alerts"][0]["signal"] == "do_not_ship" and "O2 cancelled" in r["alerts"][0]["text"]
    assert (r["verdict"], r["next"]["bin"]) == ("ok", "P3")


@pytest.fixture
def two(
    db: Path, operators: list[Operator]
) -> Iterator[tuple[Api, dict[str, str], dict[str, str]]]:
    for api in make_api(db, operators):
        yield api, api.login("li.lei"), api.login("han.mei")


def test_conflicts_are_409_with_a_reason(two: tuple[Api, dict[str, str], dict[str, str]]) -> None:
    api, li, han = two
    for path in ("/scan", "/short", "/substitute"):
        body = {"barcode": "BIN-P4"} if path == "/scan" else None
        r = api.post(path, li, body)
        assert r.status_code == 409 and r.json()["code"] == "no_wave", path
    r = api.post("/waves/NOPE/start", li)
    assert r.status_code == 404 and r.json()["code"] == "no_such_wave"
    start(api, li)
    again = start(api, li)  # resuming your own wave is fine
    assert (again["kind"], again["next"]["bin"]) == ("wave.resumed", "P4")
    r = api.post("/waves/W2/start", li)
    assert r.status_code == 409 and r.json() == {
        "detail": "finish wave W1 before starting wave W2",
        "code": "wave_open",
    }
    r = api.post("/waves/W1/start", han)
    assert r.status_code == 409 and r.json()["detail"] == "wave W1 is being picked by li.lei"
    assert start(api, han, "W2")["next"]["bin"] == "P2"  # another operator, another wave
    for b, sku, qty in ROUTE:
        api.scan(li, f"BIN-{b}")
        for _ in range(qty):
            api.scan(li, SKUS[sku])
    r = api.post("/waves/W1/start", li)
    assert r.status_code == 409 and r.json()["code"] == "wave_done"


def test_field_errors_are_422(api: Api) -> None:
    h = api.login()
    start(api, h)
    for body in [
        None,
        {},
        {"barcode": ""},
        {"barcode": 12},
        {"barcode": "x", "extra": 1},
        {"barcode": "x" * 5000},
    ]:
        r = api.post("/scan", h, body)
        assert r.status_code == 422, body
        assert all(e["loc"][0] == "body" for e in r.json()["detail"])
    r = api.post("/short", h, key="bad\nkey")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
