"""``po.release`` (cloud → edge) and ``po.received`` (edge → cloud): what a receiving station
needs, round-tripped through the codec, and bad values refused (docs/protocol.md)."""

from __future__ import annotations

import json
import uuid

import pytest

from protocol import codec
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    EVENT_ADAPTER,
    DownBatch,
    PoReceived,
    PoReceivedPayload,
    PoRelease,
    PoReleased,
    PoReleaseLine,
    ReceivedLine,
)

NODE = "wh1-inbound-1"
RELEASE = PoRelease(
    po_number="PO-2026-001",
    warehouse="WH1",
    status="open",
    supplier="东莞皮具厂",
    eta="2026-12-08",
    tolerance_pct="2.5",
    lines=[
        PoReleaseLine(
            sku_code="MKING IPAD AIR2 金甲系列皮套-金色",
            barcodes=["6901234567892"],
            ordered=100,
            received=40,
            expected=60,
            allowed=62,
        )
    ],
)
FACT = PoReceived(
    node=NODE,
    epoch=1,
    seq=9,
    id=uuid.UUID(int=9),
    hlc=1,
    payload=PoReceivedPayload(
        receipt_id="RC-9",
        po_number="PO-2026-001",
        warehouse="WH1",
        station=NODE,
        lines=[
            ReceivedLine(sku_code="A", qty=3, verdict="pass", bin="QC-01"),
            ReceivedLine(sku_code="A", qty=1, verdict="fail", reason="scratched"),
        ],
    ),
)


def test_a_po_release_travels_in_a_down_batch() -> None:
    batch = DownBatch(node=NODE, changes=[PoReleased(seq=1, payload=RELEASE)], head=1)
    got = codec.decode(DownBatch, codec.encode(batch))
    assert got == batch and isinstance(got.changes[0], PoReleased)
    assert got.changes[0].payload.lines[0].allowed == 62


def test_a_receipt_fact_round_trips_as_an_event() -> None:
    data = codec.encode(FACT)
    assert codec.decode(PoReceived, data) == FACT
    assert EVENT_ADAPTER.validate_json(data) == FACT


@pytest.mark.parametrize(
    "change",
    [
        {"qty": 1.5},
        {"qty": 0},
        {"qty": -2},
        {"qty": "3"},
        {"verdict": "maybe"},
        {"sku_code": ""},
    ],
)
def test_bad_received_lines_are_refused(change: dict[str, object]) -> None:
    line = {"sku_code": "A", "qty": 1, "verdict": "pass", **change}
    body = FACT.model_dump(mode="json")
    body["payload"]["lines"] = [line]
    with pytest.raises(RemoteProtocolError):
        codec.decode(PoReceived, json.dumps(body).encode())


@pytest.mark.parametrize("pct", ["5,0", "101", "100.5", "-1", "2.555", "abc"])
def test_a_tolerance_is_plain_decimal_text_up_to_100(pct: str) -> None:
    body = RELEASE.model_dump(mode="json") | {"tolerance_pct": pct}
    with pytest.raises(RemoteProtocolError):
        codec.decode(PoRelease, json.dumps(body).encode())
