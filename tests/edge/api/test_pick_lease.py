"""Pick leases on the node: only orders leased to this node are offered, previewed and picked."""

from __future__ import annotations

from typing import Any

from protocol.messages import OrderReleased
from tests.edge.api.conftest import NODE, SKUS, Api, feed, order

OTHER = "wh1-pick-2"


def state(api: Api) -> tuple[Any, ...]:
    """Everything a refused start could have written."""
    conn = api.store.conn
    return (
        conn.execute("SELECT COUNT(*) FROM pick_session").fetchone(),
        conn.execute("SELECT COUNT(*) FROM pick_input").fetchone(),
        conn.execute("SELECT COUNT(*) FROM journal").fetchone(),
        api.store.last_seq,
    )


def test_a_wave_leased_to_another_node_is_refused_naming_it(api: Api) -> None:
    feed(
        api.store,
        OrderReleased(seq=1, payload=order("O7", "W7", ("A", 1), pick_node=OTHER)),
        OrderReleased(seq=1, payload=order("O8", "W7", ("B", 1), pick_node=OTHER)),
    )
    h = api.login()
    waves = {w["wave"] for w in api.client.get("/api/v1/waves", headers=h).json()}
    assert waves == {"W1", "W2"}  # W7 is not offered here
    before = state(api)
    r = api.post("/waves/W7/start", h)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert r.json()["code"] == "leased_elsewhere"
    assert f"wave W7 is leased to pick node {OTHER}, not to this node ({NODE})" in detail
    preview = api.client.get("/api/v1/picks/W7", headers=h)
    assert preview.status_code == 409 and preview.json()["code"] == "leased_elsewhere"
    assert state(api) == before  # nothing started, journalled or reported


def test_a_wave_leased_to_no_node_is_refused(api: Api) -> None:
    feed(api.store, OrderReleased(seq=1, payload=order("O9", "W9", ("A", 1), pick_node=None)))
    h = api.login()
    before = state(api)
    r = api.post("/waves/W9/start", h)
    assert r.status_code == 409 and r.json()["code"] == "not_leased"
    assert "leased to no pick node yet" in r.json()["detail"]
    assert state(api) == before


def test_only_this_nodes_orders_of_a_mixed_wave_are_picked(api: Api) -> None:
    # O2 of W1 is leased to the other node: W1 here is O1 alone (A×2 from P2, B×1 from P3).
    feed(
        api.store,
        OrderReleased(
            seq=1, payload=order("O2", "W1", ("A", 1), ("C", 2), version=2, pick_node=OTHER)
        ),
    )
    h = api.login()
    w1 = next(w for w in api.client.get("/api/v1/waves", headers=h).json() if w["wave"] == "W1")
    assert (w1["orders"], w1["units"]) == (1, 3)
    r = api.post("/waves/W1/start", h)
    assert r.status_code == 200, r.text
    stops = api.client.get("/api/v1/picks/W1", headers=h).json()["stops"]
    assert sorted((s["bin"], s["sku_code"], s["qty"], s["orders"]) for s in stops) == [
        ("P2", "A", 2, ["O1"]),
        ("P3", "B", 1, ["O1"]),
    ]


def test_a_lease_moved_away_mid_wave_withdraws_the_order(api: Api) -> None:
    h = api.login()
    assert api.post("/waves/W1/start", h).status_code == 200
    api.scan(h, "BIN-P4")
    api.scan(h, SKUS["C"])  # one of O2's two C picked here before the lease moved
    feed(
        api.store,
        OrderReleased(
            seq=1, payload=order("O2", "W1", ("A", 1), ("C", 2), version=2, pick_node=OTHER)
        ),
    )
    r = api.scan(h, SKUS["C"])  # the stop in hand keeps its picks; O2's other unit is dropped
    assert [a["kind"] for a in r["alerts"]] == ["order.do_not_ship"]
    assert "O2 cancelled by the hub: 1 unit(s) dropped" in r["alerts"][0]["text"]
    stops = api.client.get("/api/v1/picks/W1", headers=h).json()["stops"]
    assert sorted((s["bin"], s["qty"], s["orders"]) for s in stops[1:]) == [
        ("P2", 2, ["O1"]),
        ("P3", 1, ["O1"]),
    ]
    for bin_code, sku, qty in [(s["bin"], s["sku_code"], s["qty"]) for s in stops[1:]]:
        api.scan(h, f"BIN-{bin_code}")
        for _ in range(qty):
            r = api.scan(h, SKUS[sku])
    assert r["kind"] == "wave.done"
    # What this node did pick of O2 is reported: the hub, which leased O2 elsewhere, keeps it
    # as a task for a person instead of booking it (tests/cloud/test_pick_lease.py).
    facts = {e["payload"]["order_id"]: e["payload"] for e in api.outbox("order.picked")}
    assert [(ln["sku_code"], ln["qty"]) for ln in facts["O2"]["lines"]] == [("C", 2)]
    assert sorted((ln["sku_code"], ln["qty"]) for ln in facts["O1"]["lines"]) == [
        ("A", 2),
        ("B", 1),
    ]
