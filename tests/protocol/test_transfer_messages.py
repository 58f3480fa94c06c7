"""``transfer.outbound`` (cloud → the sending warehouse's nodes) and ``transfer.shipped``
(a node's shipment of a transfer): round-tripped through the codec, the fact through the
batch decoder's fast path too, and bad values refused or parked (docs/protocol.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from protocol import codec
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    EVENT_ADAPTER,
    DownBatch,
    ShippedLine,
    TransferOutbound,
    TransferOutboundLine,
    TransferOutboundReleased,
    TransferShipped,
    TransferShippedPayload,
)

NODE = "wh1-pick-1"
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"
RELEASE = TransferOutbound(
    transfer_number="TR-2026-007",
    warehouse="WH1",
    to_warehouse="WH2",
    status="open",
    shipment=1,
    pick_node=NODE,
    lines=[TransferOutboundLine(line_no=1, sku_code=LEATHER, qty=10)],
)
FACT = TransferShipped(
    node=NODE,
    epoch=2,
    seq=17,
    id=uuid.UUID(int=17),
    hlc=1,
    payload=TransferShippedPayload(
        shipment_id=f"{NODE}:TR-2026-007:s1",
        transfer_number="TR-2026-007",
        shipment=1,
        warehouse="WH1",
        station=NODE,
        operator="P07",
        lines=[
            ShippedLine(line_no=1, sku_code=LEATHER, qty=8, bin="A-01-03"),
            ShippedLine(line_no=1, sku_code=LEATHER, qty=0, bin="A-01-04", short=True),
        ],
    ),
)


def test_an_outbound_release_travels_in_a_down_batch() -> None:
    batch = DownBatch(node=NODE, changes=[TransferOutboundReleased(seq=1, payload=RELEASE)], head=1)
    got = codec.decode(DownBatch, codec.encode(batch))
    assert got == batch and isinstance(got.changes[0], TransferOutboundReleased)
    assert got.changes[0].payload.pick_node == NODE


def test_a_shipment_fact_round_trips_as_an_event_and_in_a_batch() -> None:
    data = codec.encode_event(FACT)
    assert codec.decode(TransferShipped, data) == FACT
    assert EVENT_ADAPTER.validate_json(data) == FACT
    batch = codec.decode_batch(codec.encode_batch(NODE, [data]), NODE)
    assert not batch.reasons and batch.events == (FACT,)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "cancelled"},
        {"shipment": 0},
        {"shipment": "1"},
        {"pick_node": "wh1/pick"},
        {"lines": []},
        {"lines": [{"line_no": 1, "sku_code": "A", "qty": 0}]},
        {"lines": [{"line_no": 0, "sku_code": "A", "qty": 1}]},
        {"lines": [{"line_no": 1, "sku_code": "A", "qty": 1.5}]},
        {"picked": 1},  # a field a node does not know: refused, never ignored
    ],
)
def test_bad_outbound_releases_are_refused(change: dict[str, Any]) -> None:
    body = RELEASE.model_dump(mode="json") | change
    with pytest.raises(RemoteProtocolError):
        codec.decode(TransferOutbound, json.dumps(body).encode())


@pytest.mark.parametrize(
    "change",
    [
        {"shipment": 0},
        {"shipment_id": "x" * 65},
        {"lines": []},
        {"lines": [{"line_no": 1, "sku_code": "A", "qty": -1}]},
        {"lines": [{"line_no": 501, "sku_code": "A", "qty": 1}]},
        {"lines": [{"line_no": 1, "sku_code": "A", "qty": 1, "substitute_for": "B"}]},
    ],
)
def test_a_bad_shipment_fact_is_parked_not_applied(change: dict[str, Any]) -> None:
    body = FACT.model_dump(mode="json")
    body["payload"] |= change
    batch = codec.decode_batch(codec.encode_batch(NODE, [json.dumps(body).encode()]), NODE)
    assert list(batch.reasons) == [0]
    with pytest.raises(RemoteProtocolError):
        codec.decode(TransferShipped, json.dumps(body).encode())
