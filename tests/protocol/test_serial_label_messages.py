"""``serial.label`` (the hub asks a node to print the item label of a serial it issued) and
``serial.label_printed`` (the node's report): round-tripped through the codec, the fact
through the batch decoder's fast path too, and garbage refused or parked (docs/protocol.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from protocol import codec
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    CHANGE_ADAPTER,
    EVENT_ADAPTER,
    DownBatch,
    SerialLabel,
    SerialLabelAsked,
    SerialLabelPrinted,
    SerialLabelPrintedPayload,
)

NODE = "wh1-inbound-1"
ASK = SerialLabel(
    request="HUB-S0000042-1",
    serial="HUB-S0000042",
    sku_code="PHONE-X1",
    name="X1 手机",
    barcodes=["6901234500011"],
    warehouse="WH1",
    replaces="SN-0001",
)
FACT = SerialLabelPrinted(
    node=NODE,
    epoch=2,
    seq=12,
    id=uuid.UUID(int=12),
    hlc=1,
    payload=SerialLabelPrintedPayload(
        request="HUB-S0000042-1", serial="HUB-S0000042", sku_code="PHONE-X1", printer="item-labels"
    ),
)


def test_a_label_request_travels_in_a_down_batch() -> None:
    batch = DownBatch(node=NODE, changes=[SerialLabelAsked(seq=1, payload=ASK)], head=1)
    got = codec.decode(DownBatch, codec.encode(batch))
    assert got == batch and isinstance(got.changes[0], SerialLabelAsked)
    assert got.changes[0].payload.serial == "HUB-S0000042"
    assert got.changes[0].payload.reprint is False
    one = CHANGE_ADAPTER.validate_json(
        b'{"seq":3,"type":"serial.label","payload":' + codec.encode(ASK) + b"}"
    )
    assert isinstance(one, SerialLabelAsked) and one.payload == ASK


def test_the_printed_fact_round_trips_as_an_event_and_in_a_batch() -> None:
    data = codec.encode_event(FACT)
    assert codec.decode(SerialLabelPrinted, data) == FACT
    assert EVENT_ADAPTER.validate_json(data) == FACT
    batch = codec.decode_batch(codec.encode_batch(NODE, [data]), NODE)
    assert not batch.reasons and batch.events == (FACT,)


@pytest.mark.parametrize(
    "change",
    [
        {"request": ""},
        {"request": "x" * 65},
        {"serial": ""},
        {"serial": "HUB-S\n1"},
        {"sku_code": None},
        {"barcodes": ["6901234500011"] * 33},
        {"reprint": "yes"},
        {"copies": 2},  # a field a node does not know: refused, never ignored
    ],
)
def test_bad_label_requests_are_refused(change: dict[str, Any]) -> None:
    body = ASK.model_dump(mode="json") | change
    with pytest.raises(RemoteProtocolError):
        codec.decode(SerialLabel, json.dumps(body).encode())
    down = {
        "v": 1,
        "node": NODE,
        "head": 1,
        "changes": [{"seq": 1, "type": "serial.label", "payload": body}],
    }
    with pytest.raises(RemoteProtocolError):
        codec.decode(DownBatch, json.dumps(down).encode())


@pytest.mark.parametrize(
    "change",
    [
        {"request": ""},
        {"serial": "\x00"},
        {"printer": None},
        {"unconfirmed": "no"},
        {"printed_at": 1},
    ],
)
def test_a_bad_printed_fact_is_parked_not_applied(change: dict[str, Any]) -> None:
    body = FACT.model_dump(mode="json")
    body["payload"] |= change
    batch = codec.decode_batch(codec.encode_batch(NODE, [json.dumps(body).encode()]), NODE)
    assert list(batch.reasons) == [0]
    with pytest.raises(RemoteProtocolError):
        codec.decode(SerialLabelPrinted, json.dumps(body).encode())
