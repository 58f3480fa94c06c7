"""Receiving, QC, putaway and returns on a handheld (/api/v1/desks, edge/api/desks.py):
the receiving and returns stations' own runtimes behind HTTP. A PO opened by its ASN
(delivery reference), counted with a QC fail, put away by bin scan, booked once however
often a request is retried, resumed after a restart; a return counted sellable and
damaged; bad input refused with the station's reason and nothing counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.api.operators import Operator
from protocol.messages import (
    BinInfo,
    BinsUpsert,
    BinsUpserted,
    DownBatch,
    OrderReleased,
    PoRelease,
    PoReleased,
    PoReleaseLine,
    ReturnRelease,
    ReturnReleased,
    ReturnReleaseLine,
)
from tests.edge.api.conftest import NODE, SKUS, Api, feed, make_api, order

A, B, C = SKUS["A"], SKUS["B"], SKUS["C"]


def _po(number: str, refs: list[str], *lines: tuple[str, int]) -> PoReleased:
    return PoReleased(
        seq=1,
        payload=PoRelease(
            po_number=number,
            warehouse="WH1",
            status="open",
            supplier="东莞皮具厂",
            lines=[
                PoReleaseLine(sku_code=s, ordered=n, received=0, expected=n, allowed=n)
                for s, n in lines
            ],
            delivery_refs=refs,
        ),
    )


def _seed(api: Api) -> None:
    feed(
        api.store,
        BinsUpserted(
            seq=1,
            payload=BinsUpsert(
                warehouse="WH1",
                bins=[
                    BinInfo(
                        code="F-01", zone="fast_mover", x=8, y=1, walk_order=19, barcode="BIN-F01"
                    ),
                    BinInfo(
                        code="R-01", zone="reserve", x=9, y=1, walk_order=20, barcode="BIN-R01"
                    ),
                    BinInfo(
                        code="D-01", zone="damaged", x=9, y=9, walk_order=99, barcode="BIN-D01"
                    ),
                ],
            ),
        ),
        _po("PO-9", ["ASN-DG-01", "SF1400000001"], ("B", 3)),
        # Released orders wait for 1 + 4 units of B (the held one counts nothing): a fast
        # mover, put away in the 畅销区 (the order_sku index, read at B's scan).
        OrderReleased(seq=1, payload=order("O7", "W9", ("B", 4))),
        OrderReleased(seq=1, payload=order("O7v", "W9", ("B", 3), status="on_hold")),
        # One waybill for two open POs: the operator must scan the PO number.
        _po("PO-10", ["SF-SHARED"], ("C", 1)),
        _po("PO-11", ["SF-SHARED"], ("C", 1)),
        ReturnReleased(
            seq=1,
            payload=ReturnRelease(
                request="SH-1",
                order_id="O1",
                warehouse="WH1",
                kind="return",
                status="open",
                return_waybill="SF9000000001",
                lines=[ReturnReleaseLine(line_no=1, sku_code="A", qty=2)],
            ),
        ),
    )


def _said(part: Any) -> str:
    """An answer's ``said`` in English, as the page puts parameters into a message id."""
    if isinstance(part, list):
        return ", ".join(_said(p) for p in part)
    if not isinstance(part, dict):
        return str(part)
    params = {k: _said(v) for k, v in part["params"].items()}
    return str(part["msgid"]).format(**params)


def _do(api: Api, h: dict[str, str], kind: str, what: str, text: str, key: str) -> Any:
    body = {"barcode": text} if what == "scan" else {"key": text}
    r = api.post(f"/desks/{kind}/{what}", h, body, key=key)
    assert r.status_code == 200, r.text
    answer = r.json()
    # Every sentence also comes as message ids and parameters (the page says it in its
    # language, docs/pda.md "Languages"), and they say exactly what the text says.
    assert answer["said"], answer
    assert " ".join(_said(p) for p in answer["said"]) == answer["text"]
    return answer


def _received(api: Api, type_: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in api.outbox(type_)]


def test_receive_by_asn_with_qc_fail_putaway_retries_and_restart(
    db: Path, operators: list[Operator]
) -> None:
    gen = make_api(db, operators)
    api = next(gen)
    _seed(api)
    h = api.login()
    r = _do(api, h, "inbound", "scan", "SF-SHARED", "k0")
    assert (r["kind"], r["view"]["receipt_id"]) == ("po.ambiguous_ref", None)
    assert "PO-10" in r["text"] and "PO-11" in r["text"]
    r = _do(api, h, "inbound", "scan", B, "k1")
    assert r["kind"] == "scan.no_receipt"
    r = _do(api, h, "inbound", "scan", "SF1400000001", "k2")  # the courier waybill: PO-9
    assert (r["kind"], r["signal"], r["view"]["document"]) == ("po.open", "prompt", "PO-9")
    assert r["view"]["lines"] == [
        {"sku_code": "B", "name": None, "expected": 3, "passed": 0, "failed": 0}
    ]
    assert _do(api, h, "inbound", "scan", B, "k3")["kind"] == "item.pass"
    armed = _do(api, h, "inbound", "key", "FAIL:外箱破损", "k4")
    assert (armed["kind"], armed["view"]["reason"]) == ("qc.fail_armed", "外箱破损")
    failed = _do(api, h, "inbound", "scan", B, "k5")
    again = api.post("/desks/inbound/scan", h, {"barcode": B}, key="k5")  # answer lost
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["view"] == failed["view"]
    line = failed["view"]["lines"][0]
    assert (failed["kind"], line["passed"], line["failed"]) == ("item.fail", 1, 1)
    reused = api.post("/desks/inbound/scan", h, {"barcode": A}, key="k5")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert _do(api, h, "inbound", "scan", C, "k6")["kind"] == "item.not_on_po"
    assert _do(api, h, "inbound", "scan", "9999999", "k7")["kind"] == "item.unknown"
    # Another operator's desk is theirs: nothing open there.
    h2 = api.login("han.mei")
    other = api.client.get("/api/v1/desks/inbound/current", headers=h2).json()
    assert other["receipt_id"] is None
    gen.close()

    # A restart between two scans: the receipt comes back from the store.
    gen = make_api(db, operators)
    api = next(gen)
    h = api.login()
    view = api.client.get("/api/v1/desks/inbound/current", headers=h).json()
    assert (view["document"], view["lines"][0]["passed"], view["lines"][0]["failed"]) == (
        "PO-9",
        1,
        1,
    )
    r = _do(api, h, "inbound", "key", "FINISH", "k8")
    put = r["view"]["putaway"]
    assert (r["kind"], r["view"]["state"]) == ("putaway.suggest", "putaway")
    assert (put["sku_code"], put["verdict"], put["qty"]) == ("B", "pass", 1)
    assert (put["bin"], put["zone"]) == ("F-01", "fast_mover")
    r = _do(api, h, "inbound", "scan", "BIN-" + put["bin"].replace("-", ""), "k9")
    fail_group = r["view"]["putaway"]
    assert (fail_group["verdict"], fail_group["reason"], fail_group["bin"]) == (
        "fail",
        "外箱破损",
        "D-01",
    )
    wrong = _do(api, h, "inbound", "scan", "BIN-R01", "k10")
    assert wrong["kind"] == "putaway.wrong_zone" and wrong["signal"] == "wrong_item"
    done = _do(api, h, "inbound", "scan", "BIN-D01", "k11")
    assert (done["kind"], done["view"]["receipt_id"]) == ("receipt.done", None)
    _do(api, h, "inbound", "scan", "BIN-D01", "k11")  # retried: books nothing more
    (fact,) = _received(api, "po.received")
    assert fact["po_number"] == "PO-9" and fact["station"].endswith("-receive-li.lei")
    lines = {(ln["verdict"], ln["reason"]): (ln["qty"], ln["bin"]) for ln in fact["lines"]}
    assert lines == {("pass", None): (1, put["bin"]), ("fail", "外箱破损"): (1, "D-01")}

    # Returns: the parcel by its return waybill, one sellable and one damaged unit.
    r = _do(api, h, "returns", "scan", "SF9000000001", "r1")
    assert (r["kind"], r["view"]["document"], r["view"]["source"]) == ("return.open", "SH-1", "O1")
    _do(api, h, "returns", "scan", A, "r2")
    _do(api, h, "returns", "key", "DAMAGED:屏幕碎", "r3")
    r = _do(api, h, "returns", "scan", A, "r4")
    assert r["view"]["lines"][0] | {"name": None} == {
        "sku_code": "A",
        "name": None,
        "expected": 2,
        "passed": 1,
        "failed": 1,
    }
    over = _do(api, h, "returns", "scan", A, "r5")
    assert over["signal"] != "ok" and over["view"]["lines"][0]["passed"] == 1
    r = _do(api, h, "returns", "key", "FINISH", "r6")
    assert r["view"]["receipt_id"] is None
    (ret,) = _received(api, "return.received")
    assert ret["request"] == "SH-1"
    # A PO closed in the cloud while a handheld counts it: the downlink hook tells the
    # station at once, and nothing more is counted.
    assert _do(api, h, "inbound", "scan", "PO-10", "c1")["kind"] == "po.open"
    assert _do(api, h, "inbound", "scan", C, "c2")["kind"] == "item.pass"
    opened = _po("PO-10", ["SF-SHARED"], ("C", 1))
    closed = opened.model_copy(
        update={"payload": opened.payload.model_copy(update={"status": "closed"})}
    )
    feed(api.store, closed)
    api.client.app.state.desks.on_down_applied(DownBatch(node=NODE, changes=[closed], head=1))
    stopped = _do(api, h, "inbound", "scan", C, "c3")
    assert (stopped["kind"], stopped["view"]["lines"][0]["passed"]) == ("item.po_not_open", 1)
    odd = _do(api, h, "inbound", "key", "BOGUS", "c4")
    assert odd["kind"] == "input.unknown_key"
    assert odd["said"][0]["msgid"] == "unknown operator key {key}: see the key card"
    bad = api.post("/desks/nowhere/scan", h, {"barcode": A}, key="x")
    assert bad.status_code == 422
    gen.close()
