"""HID scanner codecs: keyboard boot reports, HID POS reports, evdev events, UHID events."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.devices import hid
from protocol.errors import NEED_DATA, RemoteProtocolError

GS = "\x1d"
# One list of sample scans; every decoder round-trips all of them.
SAMPLES = [
    "5901234123457",
    "]C1010590123412345710ABC123" + GS + "17250630",
    "Hello, World! ~`@#$%^&*()_+-=[]{}|\\;:'\",.<>/?",
    "lower UPPER 0123456789",
    "ctrl chars \x00\x01\x1b\x1c\x1e\x1f",
    "aa  bb",  # repeated keys need a release between presses
    "x" * 200,  # several HID POS reports
]


def _keyboard(reports: list[bytes], report_id: int | None = None) -> list[hid.Scan]:
    decoder = hid.KeyboardReportDecoder(report_id)
    out = []
    for report in reports:
        decoder.feed(report)
        while (msg := decoder.next_message()) is not NEED_DATA:
            assert isinstance(msg, hid.Scan)
            out.append(msg)
    return out


def _pos(reports: list[bytes]) -> list[hid.Scan]:
    decoder = hid.PosReportDecoder()
    out = []
    for report in reports:
        decoder.feed(report)
        while (msg := decoder.next_message()) is not NEED_DATA:
            assert isinstance(msg, hid.Scan)
            out.append(msg)
    return out


def _evdev(data: bytes, long_size: int = 8) -> list[hid.Scan]:
    decoder = hid.InputEventDecoder(long_size)
    decoder.feed(data)
    out = []
    while (msg := decoder.next_message()) is not NEED_DATA:
        assert isinstance(msg, hid.Scan)
        out.append(msg)
    return out


@pytest.mark.parametrize("text", SAMPLES)
def test_keyboard_round_trip(text: str) -> None:
    assert _keyboard(hid.encode_keyboard(text)) == [hid.Scan(text, terminator="enter")]
    assert _keyboard(hid.encode_keyboard(text, "tab")) == [hid.Scan(text, terminator="tab")]


@pytest.mark.parametrize("text", SAMPLES)
def test_keyboard_with_report_id(text: str) -> None:
    reports = [b"\x01" + r for r in hid.encode_keyboard(text)]
    assert _keyboard(reports, report_id=1) == [hid.Scan(text, terminator="enter")]


@pytest.mark.parametrize("text", SAMPLES)
def test_pos_round_trip(text: str) -> None:
    reports = hid.encode_pos(text.encode(), "]C1")
    assert len(reports) == max(1, -(-len(text) // hid.POS_DATA_MAX))
    assert all(len(r) == hid.POS_REPORT_LEN for r in reports)
    assert _pos(reports) == [hid.Scan(text, symbology="]C1")]


@pytest.mark.parametrize("long_size", [8, 4])
@pytest.mark.parametrize("text", SAMPLES)
def test_evdev_round_trip(text: str, long_size: int) -> None:
    data = hid.encode_input_events(text, long_size=long_size)
    assert len(data) % (24 if long_size == 8 else 16) == 0
    assert _evdev(data, long_size) == [hid.Scan(text, terminator="enter")]


@pytest.mark.parametrize("text", SAMPLES)
def test_every_prefix_needs_data(text: str) -> None:
    reports = hid.encode_keyboard(text)
    for n in range(len(reports) - 2):  # everything before the Enter press
        assert _keyboard(reports[:n]) == []
    pos = hid.encode_pos(text.encode())
    for n in range(len(pos)):
        assert _pos(pos[:n]) == []
    data = hid.encode_input_events(text)
    enter_press = data.rfind(struct.pack("<HHi", hid.EV_KEY, 28, 1)) - 16
    for n in range(0, enter_press + 1, 7):
        decoder = hid.InputEventDecoder(8)
        decoder.feed(data[:n])
        assert decoder.next_message() is NEED_DATA


def test_a_clean_scan_sharing_a_report_with_a_bad_key_is_kept() -> None:
    # Found by tests/fuzz: a report may hold a bad key, Enter, a clean key and keypad Enter.
    # The scan the bad key poisoned is dropped with its error; the clean one after it used to
    # trip an assertion ("a poisoned scan was emitted") and was lost.
    dec = hid.KeyboardReportDecoder()
    dec.feed(bytes([0, 0, 0x65, 0x28, 0x04, 0x58, 0, 0]))
    with pytest.raises(RemoteProtocolError, match="types no character"):
        dec.next_message()
    assert dec.next_message() == hid.Scan("a", terminator="enter")
    assert dec.next_message() is NEED_DATA


def test_keyboard_details() -> None:
    # A scanner set to send the modifier in the key slots too; byte 0 rules.
    reports = [
        bytes([0x02, 0, 0xE1, 0x04, 0, 0, 0, 0]),
        bytes(8),
        bytes([0, 0, 0x28, 0, 0, 0, 0, 0]),
    ]
    assert _keyboard(reports) == [hid.Scan("A", terminator="enter")]
    # Keypad digits and keypad Enter; phantom (ErrorRollOver) reports ignored.
    reports = [bytes([0, 0, 0x59, 0, 0, 0, 0, 0]), bytes([0, 0, 1, 1, 1, 1, 1, 1]), bytes(8)]
    reports += [bytes([0, 0, 0x62, 0, 0, 0, 0, 0]), bytes(8), bytes([0, 0, 0x58, 0, 0, 0, 0, 0])]
    assert _keyboard(reports) == [hid.Scan("10", terminator="enter")]
    # GS as Alt+0029 on the keypad.
    alt = hid.MOD_LEFT_ALT
    reports = [bytes([alt, 0, key, 0, 0, 0, 0, 0]) for key in (0x62, 0x62, 0x5A, 0x61)]
    reports = [r for key_report in reports for r in (key_report, bytes([alt] + [0] * 7))]
    reports += [bytes(8), bytes([0, 0, 0x28, 0, 0, 0, 0, 0])]
    assert _keyboard(reports) == [hid.Scan(GS, terminator="enter")]
    # Empty scans (a lone Enter) are not scans.
    assert _keyboard([bytes([0, 0, 0x28, 0, 0, 0, 0, 0]), bytes(8)]) == []


BAD_KEYBOARD = [
    ([bytes(7)], "keyboard boot report is 7 bytes, expected 8"),
    ([bytes([0, 0, 0x3A, 0, 0, 0, 0, 0])], "key usage 0x3a types no character"),
    ([bytes([hid.MOD_LEFT_CTRL, 0, 0x1E, 0, 0, 0, 0, 0])], "Control+'1' is not an ASCII control"),
    ([bytes([hid.MOD_LEFT_ALT, 0, 0x04, 0, 0, 0, 0, 0])], "not an Alt+keypad code"),
]


@pytest.mark.parametrize(("reports", "error"), BAD_KEYBOARD)
def test_keyboard_bad_reports_poison_the_scan(reports: list[bytes], error: str) -> None:
    decoder = hid.KeyboardReportDecoder()
    for report in [*hid.encode_keyboard("AB", "")[:2], *reports]:
        decoder.feed(report)
    with pytest.raises(RemoteProtocolError, match=re.escape(error)):
        decoder.next_message()
    # The rest of the broken scan is swallowed up to its Enter; the next one is whole.
    for report in hid.encode_keyboard("CD") + hid.encode_keyboard("EF"):
        decoder.feed(report)
    assert decoder.next_message() == hid.Scan("EF", terminator="enter")
    assert decoder.next_message() is NEED_DATA


def test_keyboard_wrong_report_id() -> None:
    decoder = hid.KeyboardReportDecoder(report_id=1)
    decoder.feed(b"\x02" + bytes(8))
    with pytest.raises(RemoteProtocolError, match="report ID is 0x02, expected 0x01"):
        decoder.next_message()


def test_no_terminator_within_10k_is_discarded() -> None:
    decoder = hid.KeyboardReportDecoder()
    for report in hid.encode_keyboard("9" * (hid.MAX_SCAN_CHARS + 1), terminator=""):
        decoder.feed(report)
    with pytest.raises(RemoteProtocolError, match="no scan terminator within 10240 characters"):
        decoder.next_message()
    assert decoder.next_message() is NEED_DATA  # raised once, not per character
    for report in hid.encode_keyboard("tail") + hid.encode_keyboard("next"):
        decoder.feed(report)
    assert decoder.next_message() == hid.Scan("next", terminator="enter")

    pos = hid.PosReportDecoder()
    reports = hid.encode_pos(b"9" * (hid.MAX_SCAN_CHARS + 100))
    for report in reports:
        pos.feed(report)
    with pytest.raises(RemoteProtocolError, match="longer than 10240 bytes"):
        pos.next_message()
    assert pos.next_message() is NEED_DATA
    for report in hid.encode_pos(b"ok"):
        pos.feed(report)
    assert pos.next_message() == hid.Scan("ok", symbology="]C0")


def _pos_report(length: int = 2, data: bytes = b"AB", more: int = 0, size: int = 64) -> bytes:
    report = bytes([2, length]) + b"]E0" + data.ljust(56, b"\0") + bytes([0, 0, more])
    return report[:size]


BAD_POS = [
    ([_pos_report(size=63)], "scanned data report is 63 bytes, expected 64"),
    ([_pos_report(length=57)], "data length 57 is more than the 56 bytes"),
    ([_pos_report(data=b"\xff\xfe")], r"not UTF-8 \(byte 0xff at offset 0\)"),
    ([b""], "empty HID report"),
]


@pytest.mark.parametrize(("reports", "error"), BAD_POS)
def test_pos_bad_reports(reports: list[bytes], error: str) -> None:
    decoder = hid.PosReportDecoder()
    for report in reports:
        decoder.feed(report)
    with pytest.raises(RemoteProtocolError, match=error):
        decoder.next_message()
    for report in hid.encode_pos(b"next"):
        decoder.feed(report)
    # A wrong-length report may have been the start of a scan: the next last
    # report is swallowed with it rather than emitted truncated.
    expected = NEED_DATA if "63 bytes" in error else hid.Scan("next", symbology="]C0")
    assert decoder.next_message() == expected


def test_pos_other_report_ids_and_unknown_symbology() -> None:
    decoder = hid.PosReportDecoder()
    decoder.feed(b"\x04" + bytes(10))  # a status report: not a scan
    decoder.feed(bytes([2, 3, 0, 0, 0]) + b"abc".ljust(56, b"\0") + bytes(3))
    assert decoder.next_message() == hid.Scan("abc", symbology=None)


BAD_EVDEV = [
    (struct.pack("<qqHHi", 0, 0, hid.EV_KEY, 30, 7), "EV_KEY value 7"),
    (struct.pack("<qqHHi", 0, 0, hid.EV_KEY, 59, 1), "key code 59 types no character"),
]


@pytest.mark.parametrize(("event", "error"), BAD_EVDEV)
def test_evdev_bad_events(event: bytes, error: str) -> None:
    decoder = hid.InputEventDecoder(8)
    decoder.feed(hid.encode_input_events("AB", "")[:48] + event + hid.encode_input_events("CD"))
    with pytest.raises(RemoteProtocolError, match=error):
        decoder.next_message()
    decoder.feed(hid.encode_input_events("EF"))
    assert decoder.next_message() == hid.Scan("EF", terminator="enter")


def test_evdev_ignores_sync_msc_repeat_and_lock_keys() -> None:
    ev = struct.Struct("<qqHHi")
    data = ev.pack(1, 2, hid.EV_MSC, 4, 0x70004) + ev.pack(1, 2, hid.EV_KEY, 58, 1)
    data += hid.encode_input_events("a", "")[:24] + ev.pack(0, 0, hid.EV_KEY, 30, 2)
    data += hid.encode_input_events("", "enter")
    assert _evdev(data) == [hid.Scan("a", terminator="enter")]


def _descriptor_input_bits(descriptor: bytes) -> dict[int | None, int]:
    """Walk short items (HID 1.11 section 6.2.2.2) and sum Input bits per report ID."""
    bits: dict[int | None, int] = {}
    size = count = 0
    report_id: int | None = None
    i = 0
    while i < len(descriptor):
        prefix = descriptor[i]
        n = (0, 1, 2, 4)[prefix & 0x03]
        value = int.from_bytes(descriptor[i + 1 : i + 1 + n], "little")
        tag = prefix & 0xFC
        if tag == 0x74:
            size = value
        elif tag == 0x94:
            count = value
        elif tag == 0x84:
            report_id = value
        elif tag == 0x80:
            bits[report_id] = bits.get(report_id, 0) + size * count
        i += 1 + n
    return bits


def test_report_descriptors_match_the_codecs() -> None:
    assert _descriptor_input_bits(hid.KEYBOARD_REPORT_DESCRIPTOR) == {None: 8 * 8}
    assert _descriptor_input_bits(hid.POS_REPORT_DESCRIPTOR) == {2: (hid.POS_REPORT_LEN - 1) * 8}
    assert hid.POS_REPORT_DESCRIPTOR[:2] == b"\x05\x8c"  # Usage Page (Bar Code Scanner)


def test_uhid_events_round_trip() -> None:
    create = hid.encode_uhid_create2("scanner", hid.POS_REPORT_DESCRIPTOR, vendor=0x1209, product=1)
    assert len(create) == hid.UHID_EVENT_SIZE == 4376  # sizeof(struct uhid_event)
    event = hid.decode_uhid_event(create)
    assert (event.type, event.name, event.vendor, event.product, event.bus) == (
        hid.UHID_CREATE2,
        "scanner",
        0x1209,
        1,
        hid.BUS_USB,
    )
    assert event.data == hid.POS_REPORT_DESCRIPTOR
    report = hid.encode_pos(b"x")[0]
    assert hid.decode_uhid_event(hid.encode_uhid_input2(report)).data == report
    assert hid.decode_uhid_event(hid.encode_uhid_destroy()).type == hid.UHID_DESTROY
    get = struct.pack("<IIBB", hid.UHID_GET_REPORT, 7, 3, 1).ljust(hid.UHID_EVENT_SIZE, b"\0")
    assert hid.decode_uhid_event(get) == hid.UhidEvent(hid.UHID_GET_REPORT, id=7, rnum=3, rtype=1)
    output = struct.pack("<I", hid.UHID_OUTPUT) + b"\x02".ljust(4096, b"\0")
    output += struct.pack("<HB", 1, 1)
    assert hid.decode_uhid_event(output).data == b"\x02"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x0c\x00", "shorter than its type"),
        (struct.pack("<IH", hid.UHID_INPUT2, 10) + b"abc", "says 10 data bytes, only 3"),
        (struct.pack("<I", hid.UHID_GET_REPORT), "type 9 is truncated"),
        (struct.pack("<I", 99), "type 99 is not one this codec knows"),
    ],
)
def test_uhid_bad_events(data: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        hid.decode_uhid_event(data)


def test_encoders_refuse_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="cannot be typed"):
        hid.encode_keyboard("é")
    with pytest.raises(ValueError, match="not 3 characters"):
        hid.encode_pos(b"x", "]C")


# --- fuzz: random input only ever gives a Scan, NEED_DATA or RemoteProtocolError -------

_reports = st.lists(
    st.one_of(
        st.binary(min_size=8, max_size=8),
        st.binary(max_size=70),
        st.builds(lambda b: bytes([2]) + b, st.binary(min_size=63, max_size=63)),
    ),
    max_size=30,
)


def _drain(
    decoder: hid.KeyboardReportDecoder | hid.PosReportDecoder | hid.InputEventDecoder,
) -> None:
    for _ in range(1000):
        try:
            msg = decoder.next_message()
        except RemoteProtocolError as err:
            message = str(err)
            assert message
            continue
        if msg is NEED_DATA:
            return
        assert isinstance(msg, hid.Scan) and msg.text
    raise AssertionError("decoder did not settle")


@settings(max_examples=300, deadline=None)
@given(_reports)
def test_fuzz_report_decoders(reports: list[bytes]) -> None:
    decoders: list[hid.KeyboardReportDecoder | hid.PosReportDecoder] = [
        hid.KeyboardReportDecoder(),
        hid.KeyboardReportDecoder(1),
        hid.PosReportDecoder(),
    ]
    for decoder in decoders:
        for report in reports:
            decoder.feed(report)
            _drain(decoder)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 120), st.integers(-1, 3)), max_size=60))
def test_fuzz_evdev(events: list[tuple[int, int, int]]) -> None:
    decoder = hid.InputEventDecoder(8)
    data = b"".join(struct.pack("<qqHHi", 0, 0, t, c, v) for t, c, v in events)
    for i in range(0, len(data), 10):
        decoder.feed(data[i : i + 10])
        _drain(decoder)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 16))
def test_fuzz_uhid(body: bytes, type_: int) -> None:
    try:
        event = hid.decode_uhid_event(struct.pack("<I", type_) + body)
    except RemoteProtocolError as err:
        message = str(err)
        assert message
    else:
        assert event.type == type_
