"""Every wire the system reads, as fuzz targets: MQTT payloads at the hub and the node,
barcodes and tags, scale serial streams, LLRP frames, ZPL and ESC/POS at the printers, HID
scanner reports (issue 19).

Each kind is a target taking raw bytes (text kinds decode them as UTF-8, replacing what is
not), the valid samples its mutations start from, whether they are JSON, and the errors its
interface promises. Stream decoders get the bytes in reads of varying sizes, as a socket or a
serial port delivers them. Used by tests/fuzz/test_fuzz.py (Hypothesis, a few hundred cases in
``make test``) and tests/fuzz/atheris_main.py (coverage-guided, 100,000 in ``make fuzz``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol import codec, topics
from protocol.devices import epc, escpos, gs1, hid, mtsics, toledo, zpl, zpl_query
from protocol.devices.llrp.decoder import LLRPDecoder
from protocol.devices.llrp.messages import encode as llrp_encode
from protocol.errors import NEED_DATA, RemoteProtocolError
from protocol.messages import (
    Ack,
    DownBatch,
    HubState,
    Message,
    NodeState,
    Pull,
    TransferOutboundReleased,
    WaybillPoolToppedUp,
    WaybillPoolTopUp,
    WaybillPoolUsed,
    WaybillPoolUsedPayload,
)
from tests.fuzz import kinds_answers as answers
from tests.fuzz import kinds_http as http
from tests.protocol import test_transfer_messages
from tests.protocol.devices import (
    test_gs1,
    test_hid_codec,
    test_llrp_codec,
    test_mtsics,
    test_toledo,
    test_zpl,
)
from tests.protocol.test_messages import MESSAGES, NODE, _batch, scan

PROTOCOL: tuple[type[BaseException], ...] = (RemoteProtocolError,)


@dataclass(frozen=True)
class Kind:
    name: str
    target: Callable[[bytes], object]
    #: The valid samples, or a function making them (kinds that need a hub or a node first).
    samples: list[bytes] | Callable[[], list[bytes]]
    json: bool = False
    expected: tuple[type[BaseException], ...] = PROTOCOL
    #: Checked once the cases have run: what must hold whatever was sent (a sentence, or
    #: None when it holds). Counted as a crash when it does not.
    finish: Callable[[], str | None] | None = None
    #: Cases in the short form of ``make test`` when fewer than ``--fuzz-cases``' default
    #: (an HTTP case costs 10-70 ms, a decoder's well under one).
    short: int | None = None
    #: Modules (name prefixes) ``make fuzz`` instruments for coverage, after running the
    #: samples once so that the target's lazy imports are loaded. Empty: every function
    #: loaded (the wire kinds), or the kind's own module (kinds that need a hub or a node).
    #: Instrumenting all that an adapter's kind loads (FastAPI, SQLAlchemy, pydantic: 14,494
    #: functions) took over ten minutes before the first case on a loaded machine, and the
    #: adapter itself, imported inside the target, was not instrumented at all.
    instrument: tuple[str, ...] = ()

    @functools.cached_property
    def corpus(self) -> list[bytes]:
        return self.samples() if callable(self.samples) else self.samples


# Read sizes a stream decoder sees: one byte at a time, odd sizes, whole buffers.
_READS = (1, 3, 7, 64, 4096)


def reads(data: bytes) -> list[bytes]:
    """``data`` cut into reads whose sizes the data itself chooses (its first byte)."""
    out, at, i = [], 0, data[0] if data else 0
    while at < len(data):
        size = _READS[i % len(_READS)]
        out.append(data[at : at + size])
        at += size
        i += 1
    return out


def stream(make: Callable[[], Any]) -> Callable[[bytes], None]:
    """A target feeding a sans-I/O stream decoder and taking every message. A decoder that
    produces more messages than it was fed bytes is looping: that fails as a crash."""

    def target(data: bytes) -> None:
        decoder, got = make(), 0
        for chunk in reads(data):
            decoder.feed(chunk)
            while decoder.next_message() is not NEED_DATA:
                got += 1
                if got > len(data) + 1:
                    raise AssertionError("decoder keeps producing messages: a loop")

    return target


def reports(size: int, make: Callable[[], Any]) -> Callable[[bytes], None]:
    """A target for HID decoders, fed whole reports of ``size`` bytes (the last one short)."""

    def target(data: bytes) -> None:
        decoder = make()
        for at in range(0, max(len(data), 1), size):
            decoder.feed(data[at : at + size])
            while decoder.next_message() is not NEED_DATA:
                pass

    return target


def text(parse: Callable[[str], object]) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        parse(data.decode("utf-8", "replace"))

    return target


# --- MQTT -----------------------------------------------------------------------------------


def _hub_events(data: bytes) -> None:
    batch = codec.decode_batch(data, NODE)
    # What decodes is placeable: contiguous seqs from the first (parked events included).
    seqs = [e.seq for e in batch.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


_MESSAGE_CLASSES: tuple[type[Message], ...] = (Ack, DownBatch, Pull, NodeState, HubState)


def _messages(data: bytes) -> None:
    # The hub reads Pull and NodeState on a node's topics; a node reads Ack, DownBatch and
    # HubState. Every decoder gets every case; it is refused when all of them refuse it (the
    # last refusal is the one judged for clarity).
    refusal: RemoteProtocolError | None = None
    accepted = False
    for cls in _MESSAGE_CLASSES:
        try:
            codec.decode(cls, data)
            accepted = True
        except RemoteProtocolError as err:
            refusal = err
    if not accepted and refusal is not None:
        raise refusal


def _epc(value: str) -> None:
    epc.decode_sgtin96(epc.parse_epc(value))


def _escpos_status(data: bytes) -> None:
    for n in (1, 2, 4):
        escpos.decode_status(n, data)


_BATCHES = [_batch(scan(1)), _batch(*(scan(i) for i in range(3, 9))), _batch(scan(2, "a" * 64))]
_BATCHES += [
    codec.encode_batch(NODE, [codec.encode_event(m)])
    for m in MESSAGES
    if hasattr(m, "seq") and hasattr(m, "payload")
]
# The wings that landed after the first run (transfers, the offline waybill pool): a down
# batch with a transfer.outbound and a waybill.pool change, and the transfer.shipped and
# waybill.pool_used facts, so both MQTT kinds mutate them too.
_POOL_USED = WaybillPoolUsed(
    node=NODE, epoch=2, seq=18, id=uuid.UUID(int=18), hlc=2,
    payload=WaybillPoolUsedPayload(order_id="JY1300001", version=2, station="pack-1", carrier="SF", waybill_code="SF1234567890"),
)  # fmt: skip
_NEW_FACTS = [test_transfer_messages.FACT.model_copy(update={"node": NODE}), _POOL_USED]
_NEW_CHANGES = DownBatch(
    node=NODE,
    changes=[
        TransferOutboundReleased(seq=1, payload=test_transfer_messages.RELEASE),
        WaybillPoolToppedUp(seq=2, payload=WaybillPoolTopUp(carrier="SF", batch="B-1", waybills=["SF1234567890", "SF1234567891"])),
    ],
    head=2,
)  # fmt: skip
_BATCHES += [codec.encode_batch(NODE, [codec.encode_event(m) for m in _NEW_FACTS])]
_BATCHES += [codec.encode_batch(NODE, [codec.encode_event(m)]) for m in _NEW_FACTS]
_MESSAGES = [codec.encode(m) for m in MESSAGES] + [codec.encode(_NEW_CHANGES)]
_HQES = [(0, 0), (0x1, 0), (0x2 | 0x4, 0x8), (0x8000_0000, 0x1)]
_HI = zpl_query.HostIdentification("ZD-TEST", "V1.2.3", 12, 4096, "C")
_ASCII = [t for t in test_hid_codec.SAMPLES if t.isascii()]

KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("mqtt events at the hub", _hub_events, _BATCHES, json=True),
        Kind("mqtt messages (hub and node)", _messages, _MESSAGES, json=True),
        Kind("mqtt topic names", text(topics.parse), [b"guanjia/v1/node/wh1-pack-1/events", b"guanjia/v1/hub/state"]),
        Kind("barcodes (GS1, EAN)", text(lambda t: gs1.parse(t, current_year=2026)), [t.encode() for t, _ in test_gs1.SAMPLES]),
        Kind("RFID EPCs", text(_epc), [test_llrp_codec.EPC.hex().upper().encode(), b"urn:epc:id:sgtin:0614141.812345.12345", b"urn:epc:tag:sgtin-96:1.0614141.812345.12345"], expected=(epc.EPCError,)),
        Kind("scale MT-SICS replies (driver)", stream(mtsics.ReplyDecoder), [w for w, _ in test_mtsics.REPLIES]),
        Kind("scale MT-SICS commands (simulator)", stream(mtsics.CommandDecoder), [w for w, _ in test_mtsics.COMMANDS]),
        Kind("scale Toledo frames", stream(toledo.ToledoDecoder), [w for w, _ in test_toledo.SAMPLES]),
        Kind("LLRP frames (driver and simulator)", stream(LLRPDecoder), [llrp_encode(m) for m in test_llrp_codec.SAMPLES]),
        Kind("ZPL commands (printer simulator)", stream(zpl.ZplStreamDecoder), [w for _, w in test_zpl.ZPL_SAMPLES]),
        Kind("ZPL ~HS replies (driver)", stream(zpl.HostStatusDecoder), [zpl.encode_host_status(s) for s in test_zpl.HS_SAMPLES]),
        Kind("ZPL ~HQES replies (driver)", stream(zpl_query.HostQueryDecoder), [zpl_query.encode_host_query_status(zpl_query.HostQueryStatus(e, w)) for e, w in _HQES]),
        Kind("ZPL ~HI replies (driver)", zpl_query.decode_host_identification, [zpl_query.encode_host_identification(_HI)]),
        Kind("ESC/POS commands (printer simulator)", stream(escpos.EscPosStreamDecoder), [w for w, _ in test_zpl.ESCPOS_SAMPLES]),
        Kind("ESC/POS status replies (driver)", _escpos_status, [escpos.encode_status(s) for s in test_zpl.STATUS_SAMPLES]),
        Kind("HID keyboard reports", reports(8, hid.KeyboardReportDecoder), [b"".join(hid.encode_keyboard(t)) for t in _ASCII]),
        Kind("HID POS reports", reports(64, hid.PosReportDecoder), [b"".join(hid.encode_pos(t.encode())) for t in test_hid_codec.SAMPLES]),
        Kind("evdev input events", stream(hid.InputEventDecoder), [hid.encode_input_events(t) for t in _ASCII]),
        Kind("uhid events", hid.decode_uhid_event, [hid.encode_uhid_input2(r) for r in hid.encode_keyboard("AB")] + [hid.encode_uhid_destroy(), hid.encode_uhid_get_report_reply(1, 0)]),
        # The HTTP APIs and the outside services' answers (tests/fuzz/kinds_http.py and
        # kinds_answers.py): their targets raise Refused for what the interface promises.
        Kind("hub HTTP API", http.hub_api, http.hub_samples, json=True, expected=(), finish=http.hub_finish, short=40),
        Kind("PDA HTTP API (edge node)", http.pda_api, http.pda_samples, json=True, expected=(), finish=http.pda_finish, short=40),
        Kind("Shopify webhooks at the hub", http.shopify_webhook, http.webhook_samples, json=True, expected=(), finish=http.webhooks_finish, short=40),
        Kind("Taobao TOP answers (trades, TMC)", answers.taobao_answers, answers.TAOBAO_SAMPLES, json=True, expected=(), instrument=("cloud.channels.taobao", "cloud.channels.intake")),
        Kind("Shopify Admin answers (orders)", answers.shopify_answers, answers.SHOPIFY_SAMPLES, json=True, expected=(), instrument=("cloud.channels.shopify", "cloud.channels.intake")),
        Kind("Cainiao waybill answers", answers.cainiao_answers, answers.CAINIAO_SAMPLES, json=True, expected=(), instrument=("cloud.channels.cainiao", "cloud.channels.taobao.client")),
        Kind("e-invoice provider answers", answers.einvoice_answers, answers.EINVOICE_SAMPLES, json=True, expected=(), instrument=("cloud.finance.einvoice",)),
        Kind("Alipay gateway answers (signed)", answers.alipay_answers, answers.alipay_samples, json=True, expected=(), instrument=("cloud.finance.alipay_sign", "cloud.finance.bill_source")),
        Kind("Alipay bill files", answers.alipay_bill_files, answers.alipay_bill_samples, expected=(), instrument=("cloud.finance.alipay_bill",)),
        Kind("WeChat Pay bill files", answers.wechat_bill_files, answers.wechat_bill_samples, expected=(), instrument=("cloud.finance.wechat_bill",)),
    ]
}  # fmt: skip
