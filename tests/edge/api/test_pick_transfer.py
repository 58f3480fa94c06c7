"""Transfers picked and shipped at the sender's node (edge/runtimes/pick_transfer.py): offered
like a wave under the transfer's number, picked along the route, reported once as
``transfer.shipped``; a transfer of another warehouse or node, or one the hub closed, is
refused with a sentence and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.api.operators import Operator
from edge.runtimes.pick_transfer import shipment_id
from protocol.messages import (
    CatalogueUpsert,
    CatalogueUpserted,
    TransferOutbound,
    TransferOutboundLine,
    TransferOutboundReleased,
)
from tests.edge.api.conftest import NODE, SKUS, STATION, Api, feed, make_api
from tests.edge.api.test_pick_lease import state

OTHER = "wh1-pick-2"


def outbound(number: str = "TR-1", **over: Any) -> TransferOutboundReleased:
    body: dict[str, Any] = {
        "transfer_number": number,
        "warehouse": "WH1",
        "to_warehouse": "WH2",
        "status": "open",
        "shipment": 1,
        "pick_node": NODE,
        "lines": [
            TransferOutboundLine(line_no=1, sku_code="A", qty=3),
            TransferOutboundLine(line_no=2, sku_code="C", qty=2),
        ],
    }
    body.update(over)
    return TransferOutboundReleased(seq=1, payload=TransferOutbound(**body))


@pytest.fixture
def wh1(db: Path, operators: list[Operator]) -> Iterator[Api]:
    """The pick API of a node that picks for WH1."""
    yield from make_api(db, operators, warehouse="WH1")


def walk(api: Api, h: dict[str, str], first: dict[str, Any]) -> dict[str, Any]:
    """Pick every stop as the answers direct: the bin, then its units."""
    r = first
    while r["next"] is not None and r["state"] != "done":
        stop = r["next"]
        r = api.scan(h, stop["bin_barcode"])
        for _ in range(stop["qty"] - stop["picked"]):
            r = api.scan(h, SKUS[stop["sku_code"]])
    return r


def test_a_transfer_is_offered_picked_and_shipped_once(wh1: Api) -> None:
    api = wh1
    feed(api.store, outbound())
    h = api.login()
    waves = {w["wave"]: w for w in api.client.get("/api/v1/waves", headers=h).json()}
    assert waves["TR-1"] == {
        "wave": "TR-1",
        "orders": 1,
        "units": 5,
        "status": "available",
        "operator": None,
        "kind": "transfer",
    }
    started = api.post("/waves/TR-1/start", h)
    assert started.status_code == 200, started.text
    # A transfer ships its own SKUs: no substitute.
    r = api.post("/substitute", h)
    assert r.status_code == 409 and "no substitutes" in r.json()["detail"]
    done = walk(api, h, started.json())
    assert done["kind"] == "wave.done" and len(done["facts"]) == 1
    assert api.outbox("order.picked") == []
    (fact,) = api.outbox("transfer.shipped")
    p = fact["payload"]
    assert (p["transfer_number"], p["shipment"], p["warehouse"], p["station"]) == (
        "TR-1",
        1,
        "WH1",
        STATION,
    )
    assert p["shipment_id"] == f"{NODE}:TR-1:s1"
    assert sorted((ln["line_no"], ln["sku_code"], ln["qty"], ln["bin"]) for ln in p["lines"]) == [
        (1, "A", 3, "P2"),
        (2, "C", 2, "P4"),
    ]
    assert not any(ln["short"] for ln in p["lines"])
    # Picked for this shipment: not offered, not started again.
    assert "TR-1" not in {
        w["wave"]
        for w in api.client.get("/api/v1/waves", headers=h).json()
        if w["status"] == "available"
    }
    before = state(api)
    again = api.post("/waves/TR-1/start", h)
    assert again.status_code == 409 and again.json()["code"] == "wave_done"
    assert "already been picked and shipped" in again.json()["detail"]
    assert state(api) == before
    # Its shipment taken back at the hub (冲销出库): released again for shipment 2.
    feed(api.store, outbound(shipment=2))
    second = api.post("/waves/TR-1/start", h)
    assert second.status_code == 200, second.text
    walk(api, h, second.json())
    shipped = api.outbox("transfer.shipped")
    assert [e["payload"]["shipment"] for e in shipped] == [1, 2]
    assert shipped[0]["payload"]["shipment_id"] != shipped[1]["payload"]["shipment_id"]


def test_the_rest_of_a_short_pick_is_picked_as_the_next_shipment(wh1: Api) -> None:
    """The hub asks for the rest of shipment 1 (cloud/inbound/transfer_pick.py): the same
    transfer open again with shipment 2 and only what is left. The node picks it under the
    transfer's number and its stock movements are its own (not taken for shipment 1's)."""
    api = wh1
    # One line: both picks have one stop, the first of the route.
    feed(api.store, outbound(lines=[TransferOutboundLine(line_no=1, sku_code="A", qty=3)]))
    h = api.login()
    walk(api, h, api.post("/waves/TR-1/start", h).json())
    rest = [TransferOutboundLine(line_no=1, sku_code="A", qty=1)]
    feed(api.store, outbound(shipment=2, lines=rest))
    waves = {w["wave"]: w for w in api.client.get("/api/v1/waves", headers=h).json()}
    assert (waves["TR-1"]["status"], waves["TR-1"]["units"]) == ("available", 1)
    r = walk(api, h, api.post("/waves/TR-1/start", h).json())
    assert r["state"] == "done" and "transfer TR-1 picked" in r["text"], r["text"]
    _first, second = (e["payload"] for e in api.outbox("transfer.shipped"))
    assert (second["shipment"], second["shipment_id"]) == (2, f"{NODE}:TR-1:s2")
    assert [(ln["line_no"], ln["sku_code"], ln["qty"]) for ln in second["lines"]] == [(1, "A", 1)]
    moved = api.store.conn.execute(
        "SELECT key, delta FROM stock_movement WHERE sku_code = 'A' AND reason = 'pick' "
        "ORDER BY key"
    ).fetchall()
    assert sorted(d for _, d in moved) == [-3, -1], moved


def test_a_transfer_it_may_not_pick_is_refused_and_nothing_written(wh1: Api) -> None:
    api = wh1
    feed(
        api.store,
        outbound("TR-WH2", warehouse="WH2"),
        outbound("TR-OTHER", pick_node=OTHER),
        outbound("TR-NONE", pick_node=None),
        outbound("TR-SHIPPED", status="shipped"),
        outbound("TR-GONE", status="withdrawn"),
    )
    h = api.login()
    offered = {w["wave"] for w in api.client.get("/api/v1/waves", headers=h).json()}
    assert not offered & {"TR-WH2", "TR-OTHER", "TR-NONE", "TR-SHIPPED", "TR-GONE"}
    cases = {
        "TR-WH2": ("wrong_warehouse", "transfer TR-WH2 leaves from warehouse WH2"),
        "TR-OTHER": ("leased_elsewhere", f"leased to pick node {OTHER}, not to this node"),
        "TR-NONE": ("not_leased", "leased to no pick node"),
        "TR-SHIPPED": ("transfer_closed", "transfer TR-SHIPPED is shipped on the hub"),
        "TR-GONE": ("transfer_closed", "transfer TR-GONE is withdrawn on the hub"),
    }
    for number, (code, says) in cases.items():
        before = state(api)
        r = api.post(f"/waves/{number}/start", h)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == code and says in r.json()["detail"], r.json()
        assert state(api) == before
        preview = api.client.get(f"/api/v1/picks/{number}", headers=h)
        assert preview.status_code == 409 and preview.json()["code"] == code


def test_a_transfer_withdrawn_mid_pick_says_put_it_back(wh1: Api) -> None:
    api = wh1
    feed(api.store, outbound())
    h = api.login()
    r = api.post("/waves/TR-1/start", h).json()
    stop = r["next"]
    api.scan(h, stop["bin_barcode"])
    api.scan(h, SKUS[stop["sku_code"]])  # one unit on the trolley
    feed(api.store, outbound(status="shipped"))  # shipped from the hub meanwhile
    r = api.scan(h, SKUS[stop["sku_code"]])
    # The stop under way keeps its units; the stops not started are dropped from the list.
    # It says "transfer" (the PDA shows the kind's sentence, edge/pda/messages.py), not "order".
    kinds = [(a["kind"], a["signal"]) for a in r["alerts"]]
    assert kinds == [("transfer.do_not_ship", "do_not_ship")], r["alerts"]
    text = r["alerts"][0]["text"]
    assert "transfer TR-1 withdrawn from this pick by the hub (transfer shipped on the hub)" in text
    assert "order" not in text, text
    r = walk(api, h, r)
    assert r["state"] == "done"
    # What was picked is reported (facts are never dropped): the hub refuses it with a task.
    (fact,) = api.outbox("transfer.shipped")
    assert fact["payload"]["shipment"] == 1
    assert sum(ln["qty"] for ln in fact["payload"]["lines"]) == stop["qty"]


def test_the_pda_says_a_transfer_withdrawal_in_its_language(wh1: Api) -> None:
    """The pick page shows an alert by its kind (edge/pda/static/js/text.js nodeVerdict):
    the transfer's kind has its own sentence, in Chinese and English."""
    zh = wh1.client.get("/pda/pick", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200, zh.text
    assert "该调拨单已从本节点的拣货中撤回" in zh.text
    en = wh1.client.get("/pda/pick?lang=en", headers={"Accept-Language": "en"})
    assert "the transfer was withdrawn from this node" in en.text


def test_the_pda_wave_list_names_a_transfer(wh1: Api) -> None:
    feed(wh1.store, outbound())
    h = wh1.login()
    r = wh1.client.get("/pda/frag/waves", headers={**h, "Accept-Language": "zh-CN"})
    assert r.status_code == 200, r.text
    assert 'data-wave="TR-1"' in r.text and "调拨出库，5 件" in r.text
    r = wh1.client.get("/pda/frag/waves?lang=en", headers={**h, "Accept-Language": "en"})
    assert "transfer to another warehouse, 5 units" in r.text


def test_a_restart_mid_transfer_resumes_and_ships_once(db: Path, operators: list[Operator]) -> None:
    for api in make_api(db, operators, warehouse="WH1"):
        feed(api.store, outbound())
        h = api.login()
        stop = api.post("/waves/TR-1/start", h).json()["next"]
        api.scan(h, stop["bin_barcode"])
        api.scan(h, SKUS[stop["sku_code"]])
    # A new process over the same store (power cut): the transfer's pick is where it was.
    for api in make_api(db, operators, warehouse="WH1"):
        h = api.login()
        cur = api.client.get("/api/v1/picks/current", headers=h).json()
        assert cur["wave"] == "TR-1" and cur["stop"]["picked"] == 1
        r = api.scan(h, SKUS[stop["sku_code"]])
        r = walk(api, h, {"next": r["next"], "state": r["state"]})
        assert r["state"] == "done"
        (fact,) = api.outbox("transfer.shipped")
        assert sum(ln["qty"] for ln in fact["payload"]["lines"]) == 5
        assert api.outbox("order.picked") == []


def test_a_shipment_id_fits_its_64_characters() -> None:
    assert shipment_id("wh1-pick-1", "TR-1", 2) == "wh1-pick-1:TR-1:s2"
    long = shipment_id("n" * 64, "T" * 64, 1)
    assert len(long) <= 64 and long != shipment_id("n" * 64, "T" * 64, 2)


def _serial_tracked(api: Api, sku: str = "A") -> None:
    """Make ``sku`` serial-tracked on the node (a catalogue change from the hub)."""
    feed(
        api.store,
        CatalogueUpserted(
            seq=1,
            payload=CatalogueUpsert(
                sku_code=sku,
                name=f"item {sku}",
                barcodes=[SKUS[sku]],
                gtin="06900000000014" if sku == "A" else None,
                serial_tracked=True,
            ),
        ),
    )


def test_a_transfers_serial_tracked_units_are_picked_by_serial(wh1: Api) -> None:
    """Each unit of a serial-tracked SKU: its item scan, then the serial on its label (or a
    GS1 label with both); a serial twice, or an item scan where the serial is wanted, is a
    red light that counts nothing; the serials travel in ``transfer.shipped``."""
    api = wh1
    _serial_tracked(api)
    feed(api.store, outbound(lines=[TransferOutboundLine(line_no=1, sku_code="A", qty=3)]))
    h = api.login()
    stop = api.post("/waves/TR-1/start", h).json()["next"]
    api.scan(h, stop["bin_barcode"])
    r = api.scan(h, SKUS["A"])
    assert (r["kind"], r["expect"], r["verdict"]) == ("item.await_serial", "serial", "serial")
    assert r["next"]["picked"] == 0
    r = api.scan(h, "wh2-recv-1-S0000001")
    assert (r["kind"], r["next"]["picked"]) == ("item.ok", 1), r
    # The same serial again: refused, red, nothing counted.
    api.scan(h, SKUS["A"])
    before = (api.outbox(), api.movements())
    r = api.scan(h, "wh2-recv-1-S0000001")
    assert (r["kind"], r["signal"], r["verdict"]) == (
        "item.serial_twice",
        "wrong_item",
        "wrong_item",
    )
    assert "already picked on transfer TR-1" in r["text"] and r["next"]["picked"] == 1
    # An item scan where its serial is wanted: refused, still waiting for the serial.
    r = api.scan(h, SKUS["A"])
    assert (r["kind"], r["expect"]) == ("item.serial_expected", "serial")
    assert (api.outbox(), api.movements()) == before
    r = api.scan(h, "wh2-recv-1-S0000002")
    assert r["next"]["picked"] == 2
    # A GS1 label: the SKU by its GTIN and the serial in one scan.
    r = api.scan(h, "(01)06900000000014(21)SN-GS1-3")
    assert r["state"] == "done", r
    (fact,) = api.outbox("transfer.shipped")
    (line,) = fact["payload"]["lines"]
    assert (line["qty"], line["serials"]) == (
        3,
        ["wh2-recv-1-S0000001", "wh2-recv-1-S0000002", "SN-GS1-3"],
    )


def test_serials_picked_survive_a_restart(db: Path, operators: list[Operator]) -> None:
    for api in make_api(db, operators, warehouse="WH1"):
        _serial_tracked(api)
        feed(api.store, outbound(lines=[TransferOutboundLine(line_no=1, sku_code="A", qty=2)]))
        h = api.login()
        stop = api.post("/waves/TR-1/start", h).json()["next"]
        api.scan(h, stop["bin_barcode"])
        api.scan(h, SKUS["A"])
        api.scan(h, "SER-1")
        api.scan(h, SKUS["A"])  # waits for its serial when the power goes
    for api in make_api(db, operators, warehouse="WH1"):
        h = api.login()
        cur = api.client.get("/api/v1/picks/current", headers=h).json()
        assert cur["stop"]["picked"] == 1
        r = api.scan(h, "SER-1")  # the replayed pick knows SER-1 left already
        assert r["kind"] == "item.serial_twice", r
        r = api.scan(h, "SER-2")
        assert r["state"] == "done"
        (fact,) = api.outbox("transfer.shipped")
        assert fact["payload"]["lines"][0]["serials"] == ["SER-1", "SER-2"]
