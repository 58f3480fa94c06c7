"""LLRP 1.0.1 codec: one list of sample messages, round-trip, truncation, bad bytes, fuzz."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.devices import llrp
from protocol.devices.llrp import (
    AISpec,
    LLRPDecoder,
    LLRPStatus,
    ReaderCapabilities,
    ROReportSpec,
    ROSpec,
    TagObservationTrigger,
    TagReport,
    TagReportContentSelector,
    decode_one,
    encode,
)
from protocol.errors import NEED_DATA, RemoteProtocolError

EPC = bytes.fromhex("3034257BF7194E4000003039")
SELECTOR = TagReportContentSelector(
    antenna_id=True, peak_rssi=True, first_seen=True, last_seen=True, tag_seen_count=True
)
ROSPEC = ROSpec(
    rospec_id=1,
    ai_specs=(
        AISpec(
            antenna_ids=(1, 2),
            stop_trigger=llrp.AIStopTrigger.TAG_OBSERVATION,
            tag_observation=TagObservationTrigger(number_of_tags=10, timeout_ms=250),
        ),
    ),
    report_spec=ROReportSpec(n=5, content=SELECTOR),
)
FULL_TAG = TagReport(
    epc=EPC,
    rospec_id=1,
    spec_index=1,
    inventory_parameter_spec_id=1,
    antenna_id=2,
    peak_rssi=-61,
    channel_index=3,
    first_seen_utc_us=1_700_000_000_000_000,
    first_seen_uptime_us=5,
    last_seen_utc_us=1_700_000_000_500_000,
    last_seen_uptime_us=6,
    tag_seen_count=7,
    c1g2_crc=0xBEEF,
    c1g2_pc=0x3000,
    access_spec_id=9,
)

SAMPLES: list[llrp.LLRPMessage] = [
    llrp.GetReaderCapabilities(message_id=1),
    llrp.GetReaderCapabilitiesResponse(
        message_id=1,
        capabilities=ReaderCapabilities(
            max_antennas=4,
            firmware="sim 1.0",
            tx_power_table=((1, 1000), (2, 3250)),
            hopping=True,
            hop_tables=((1, (902750, 915250)),),
            rf_modes=(llrp.RFMode(mode_id=0), llrp.RFMode(mode_id=2, m=4)),
            gpis=2,
            gpos=2,
        ),
    ),
    llrp.GetReaderCapabilitiesResponse(
        message_id=2, status=LLRPStatus(llrp.StatusCode.R_DEVICE_ERROR, "antenna fault")
    ),
    llrp.GetReaderConfig(message_id=2, antenna_id=3, requested_data=0, gpi_port=1, gpo_port=2),
    llrp.GetReaderConfigResponse(
        message_id=2, reader_id=b"\x00\x16\x25\x12\x34\x56", keepalive=llrp.KeepaliveSpec(1, 1000)
    ),
    llrp.SetReaderConfig(
        message_id=3,
        event_states=(llrp.EventNotificationState(2, True),),
        report_spec=ROReportSpec(n=1, content=SELECTOR),
        keepalive=llrp.KeepaliveSpec(1, 500),
    ),
    llrp.SetReaderConfigResponse(message_id=3),
    llrp.EnableEventsAndReports(message_id=4),
    llrp.AddROSpec(message_id=5, rospec=ROSPEC),
    llrp.AddROSpecResponse(message_id=5),
    llrp.EnableROSpec(message_id=6, rospec_id=1),
    llrp.EnableROSpecResponse(message_id=6),
    llrp.StartROSpec(message_id=7, rospec_id=1),
    llrp.StartROSpecResponse(message_id=7),
    llrp.StopROSpec(message_id=8, rospec_id=1),
    llrp.StopROSpecResponse(message_id=8),
    llrp.DisableROSpec(message_id=9, rospec_id=1),
    llrp.DisableROSpecResponse(message_id=9),
    llrp.DeleteROSpec(message_id=10, rospec_id=0),
    llrp.DeleteROSpecResponse(message_id=10, status=LLRPStatus(101, "no ROSpec 7")),
    llrp.DeleteAccessSpec(message_id=11),
    llrp.DeleteAccessSpecResponse(message_id=11),
    llrp.Keepalive(message_id=12),
    llrp.KeepaliveAck(message_id=12),
    llrp.CloseConnection(message_id=13),
    llrp.CloseConnectionResponse(message_id=13),
    llrp.ErrorMessage(message_id=14, status=LLRPStatus(109, "unsupported")),
    llrp.ReaderEventNotification(
        message_id=0, timestamp_us=1_700_000_000_000_000, connection_attempt=0
    ),
    llrp.ReaderEventNotification(
        timestamp_us=99,
        uptime=True,
        connection_close=True,
        rospec_event=llrp.ROSpecEvent(event_type=1, rospec_id=1),
        antenna_event=(0, 2),
    ),
    llrp.ROAccessReport(message_id=15, tags=()),
    llrp.ROAccessReport(
        message_id=16,
        tags=(FULL_TAG, TagReport(epc=EPC, antenna_id=1), TagReport(epc=b"\xaa\xbb\xcc\xdd")),
    ),
    llrp.UnknownMessage(message_id=17, message_type=llrp.MessageType.GET_REPORT, body=b""),
    llrp.UnknownMessage(message_id=18, message_type=1023, body=b"\x00\x00\x65\x1a\x15"),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(msg: llrp.LLRPMessage) -> None:
    assert decode_one(encode(msg)) == msg


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_prefix_needs_data(msg: llrp.LLRPMessage) -> None:
    raw = encode(msg)
    for i in range(len(raw)):
        dec = LLRPDecoder()
        dec.feed(raw[:i])
        assert dec.next_message() is NEED_DATA, f"prefix of {i} bytes"


def test_stream_of_all_samples_byte_by_byte() -> None:
    dec = LLRPDecoder()
    out: list[llrp.LLRPMessage] = []
    for byte in b"".join(encode(m) for m in SAMPLES):
        dec.feed(bytes((byte,)))
        while (m := dec.next_message()) is not NEED_DATA:
            assert not isinstance(m, type(NEED_DATA))
            out.append(m)
    assert out == SAMPLES


def test_header_layout_matches_spec() -> None:
    # §4.1: Rsvd(3)=0 Ver(3)=1 Type(10), Length(32), MessageID(32).
    raw = encode(llrp.KeepaliveAck(message_id=0x01020304))
    assert raw == bytes.fromhex("0448 0000000a 01020304".replace(" ", ""))


def _header(mtype: int, length: int, mid: int = 1, ver: int = 1) -> bytes:
    return struct.pack("!HII", (ver << 10) | mtype, length, mid)


def _msg(mtype: int, body: bytes) -> bytes:
    return _header(mtype, 10 + len(body)) + body


BAD: list[tuple[str, bytes, str]] = [
    ("length below header", _header(62, 4), "less than the 10-byte header"),
    ("length absurd", _header(61, 0x7FFF_FFFF), "over the 1048576-byte limit"),
    ("version 2", _header(62, 10, ver=2), "protocol version 2"),
    (
        "tlv overruns message",
        _msg(61, struct.pack("!HH", 240, 40) + b"\x00" * 4),
        "runs 32 bytes past the end",
    ),
    ("tlv length < 4", _msg(61, struct.pack("!HH", 240, 2)), "less than its own 4-byte header"),
    ("stray bytes", _msg(61, b"\x00\x01"), "2 stray bytes"),
    (
        "unknown TV type",
        _msg(61, struct.pack("!HH", 240, 6) + b"\xff\x00"),
        "unknown TV parameter type 127",
    ),
    (
        "truncated TV",
        _msg(61, struct.pack("!HH", 240, 7) + b"\x8d\x00\x00"),
        "TV parameter type 13 needs 12 bytes",
    ),
    ("tag without EPC", _msg(61, struct.pack("!HH", 240, 7) + b"\x81\x00\x01"), "EPC"),
    ("status missing", _msg(30, b""), "LLRPStatus parameter is missing"),
    ("rospec id short", _msg(24, b"\x00\x01"), "ROSpecID needs 4 bytes"),
    ("add_rospec empty", _msg(20, b""), "carries no ROSpec"),
    ("event without data", _msg(63, b""), "ReaderEventNotificationData is missing"),
    (
        "event without timestamp",
        _msg(63, struct.pack("!HH", 246, 4)),
        "has no UTCTimestamp or Uptime",
    ),
    (
        "status text not utf8",
        _msg(30, struct.pack("!HHHH", 287, 10, 0, 2) + b"\xff\xfe"),
        "is not UTF-8",
    ),
]


@pytest.mark.parametrize(("raw", "needle"), [(r, n) for _, r, n in BAD], ids=[b[0] for b in BAD])
def test_bad_bytes(raw: bytes, needle: str) -> None:
    dec = LLRPDecoder()
    dec.feed(raw)
    with pytest.raises(RemoteProtocolError, match=needle):
        dec.next_message()


def test_unknown_and_custom_parameters_are_skipped_by_length() -> None:
    # §4.1.3: a custom parameter (1023) and an unknown TLV inside TagReportData
    # and at message level are skipped; the known fields still decode.
    custom = struct.pack("!HHII", 1023, 14, 25882, 56) + b"\x01\x02"
    unknown = struct.pack("!HH", 700, 6) + b"\xab\xcd"
    tag = b"\x8d" + EPC + custom + b"\x81\x00\x03" + unknown
    body = struct.pack("!HH", 240, 4 + len(tag)) + tag + custom
    msg = decode_one(_msg(61, body))
    assert msg == llrp.ROAccessReport(message_id=1, tags=(TagReport(epc=EPC, antenna_id=3),))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    dec = LLRPDecoder()
    dec.feed(data)
    try:
        while True:
            if dec.next_message() is NEED_DATA:
                break
    except RemoteProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated_samples(msg: llrp.LLRPMessage, data: st.DataObject) -> None:
    raw = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    dec = LLRPDecoder()
    dec.feed(bytes(raw))
    try:
        while dec.next_message() is not NEED_DATA:
            pass
    except RemoteProtocolError:
        pass


# ------------------------------------------------ interoperability with sllurp


def test_sllurp_decodes_what_the_simulator_sends() -> None:
    from sllurp.llrp import LLRPMessage

    caps = SAMPLES[1]
    d = LLRPMessage(msgbytes=encode(caps)).msgdict["GET_READER_CAPABILITIES_RESPONSE"]
    assert d["GeneralDeviceCapabilities"]["MaxNumberOfAntennaSupported"] == 4
    band = d["RegulatoryCapabilities"]["UHFBandCapabilities"]
    assert [e["TransmitPowerValue"] for e in band["TransmitPowerLevelTableEntry"]] == [1000, 3250]
    modes = band["UHFC1G2RFModeTable"]["UHFC1G2RFModeTableEntry"]
    assert [m["ModeIdentifier"] for m in modes] == [0, 2]
    report = LLRPMessage(msgbytes=encode(SAMPLES[-3])).msgdict["RO_ACCESS_REPORT"]
    first = report["TagReportData"][0]
    assert first["EPC-96"] == EPC.hex().encode()
    assert (first["AntennaID"], first["PeakRSSI"], first["TagSeenCount"]) == (2, -61, 7)
    assert first["FirstSeenTimestampUTC"] == FULL_TAG.first_seen_utc_us
    event = LLRPMessage(msgbytes=encode(SAMPLES[27]))
    assert event.isSuccess()


def test_we_decode_what_sllurp_sends() -> None:
    from sllurp.llrp import LLRPMessage
    from sllurp.llrp_proto import LLRPROSpec

    spec = LLRPROSpec(
        None,
        1,
        antennas=(1, 2),
        report_every_n_tags=10,
        report_timeout_ms=250,
        tag_content_selector={"EnableAntennaID": True, "EnablePeakRSSI": True},
    )
    raw = LLRPMessage(msgdict={"ADD_ROSPEC": {"ID": 5, "ROSpecID": 1, "ROSpec": spec}}).msgbytes
    msg = decode_one(raw)
    assert isinstance(msg, llrp.AddROSpec)
    assert msg.message_id == 5
    ai = msg.rospec.ai_specs[0]
    assert ai.antenna_ids == (1, 2)
    assert ai.tag_observation == TagObservationTrigger(number_of_tags=10, timeout_ms=250)
    assert msg.rospec.report_spec is not None
    assert msg.rospec.report_spec.content.antenna_id
    assert msg.rospec.report_spec.content.peak_rssi
    keep = LLRPMessage(
        msgdict={
            "SET_READER_CONFIG": {
                "ID": 3,
                "ResetToFactoryDefaults": False,
                "KeepaliveSpec": {"KeepaliveTriggerType": 1, "TimeInterval": 750},
            }
        }
    ).msgbytes
    cfg = decode_one(keep)
    assert isinstance(cfg, llrp.SetReaderConfig)
    assert cfg.keepalive == llrp.KeepaliveSpec(1, 750)
