"""Codec tests for protocol.devices.zpl and protocol.devices.escpos over one sample list each."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.devices import escpos, zpl
from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

LABEL = zpl.ShippingLabel(
    waybill="SF1234567890123",
    carrier="顺丰速运",
    order_id="GJ-2024-0001",
    weight_g=1250,
    recipient_name="张三^~_",
    recipient_phone="13800138000",
    province="广东省",
    city="深圳市",
    district="南山区",
    address="科技园南路 88 号\n3 栋",
)

# --- ZPL job stream: (message, wire bytes that must decode to exactly it) ---------------
ZPL_SAMPLES: list[tuple[zpl.ZplEvent, bytes]] = [
    (zpl.ControlCommand("HS"), b"~HS"),
    (zpl.ControlCommand("JA"), b"~JA"),
    (zpl.ControlCommand("HQ", "ES"), b"~HQES\r\n"),
    (zpl.LabelFormat(()), b"^XA^XZ"),
    (
        zpl.LabelFormat(
            (zpl.ZplCommand("FO", "10,20"), zpl.ZplCommand("FD", "A B"), zpl.ZplCommand("FS"))
        ),
        b"^XA\r\n  ^FO10,20 \r\n^FDA B^FS\n^XZ",
    ),
    (
        zpl.LabelFormat(
            (
                zpl.ZplCommand("CI", "28"),
                zpl.ZplCommand("FH"),
                zpl.ZplCommand("FD", "张_5E"),
                zpl.ZplCommand("FS"),
            )
        ),
        "^XA^CI28^FH^FD张_5E^FS^XZ".encode(),
    ),
    (zpl.decode_all(zpl.build_label(LABEL))[0], zpl.build_label(LABEL)),
]


def _decode(data: bytes) -> list[zpl.ZplEvent]:
    return zpl.decode_all(data)


@pytest.mark.parametrize(("msg", "wire"), ZPL_SAMPLES)
def test_zpl_round_trip(msg: zpl.ZplEvent, wire: bytes) -> None:
    assert _decode(wire) == [msg]
    tail = b"\n" if isinstance(msg, zpl.ControlCommand) and msg.params else b""
    assert _decode(msg.encode() + tail) == [msg]


def test_zpl_stream_of_all_samples_byte_by_byte() -> None:
    dec = zpl.ZplStreamDecoder()
    got: list[zpl.ZplEvent] = []
    for b in b"\n".join(w for _, w in ZPL_SAMPLES):
        dec.feed(bytes([b]))
        while not isinstance(m := dec.next_message(), NeedData):
            got.append(m)
    assert got == [m for m, _ in ZPL_SAMPLES]


@pytest.mark.parametrize(("msg", "wire"), ZPL_SAMPLES)
def test_zpl_every_prefix_needs_data(msg: zpl.ZplEvent, wire: bytes) -> None:
    end = len(wire.rstrip(b"\r\n"))  # trailing line ends are not part of the message
    for cut in range(end):
        dec = zpl.ZplStreamDecoder()
        dec.feed(wire[:cut])
        assert dec.next_message() is NEED_DATA, wire[:cut]


def test_tilde_inside_format_acts_first() -> None:
    got = _decode(b"^XA^FO1,2~HS^FDx^FS^XZ")
    assert got == [
        zpl.ControlCommand("HS"),
        zpl.LabelFormat(
            (zpl.ZplCommand("FO", "1,2"), zpl.ZplCommand("FD", "x"), zpl.ZplCommand("FS"))
        ),
    ]


ZPL_BAD = [
    (b"hello", "expected ^XA or a ~ command between formats"),
    (b"\x00\x01", "expected ^XA or a ~ command"),
    (b"^FO10,10", "^FO outside a format"),
    (b"^!A", "is not a ZPL command"),
    (b"~!!", "is not a ZPL command"),
    (b"^XAjunk^FS^XZ", "right after ^XA"),
    (b"^XA^FS^XA^XZ", "^XA inside a format"),
    (b"^XA^F\x01", "is not a ZPL command"),
]


@pytest.mark.parametrize(("data", "text"), ZPL_BAD)
def test_zpl_bad_bytes(data: bytes, text: str) -> None:
    with pytest.raises(RemoteProtocolError, match=text.replace("^", r"\^").replace("~", r"\~")):
        _decode(data)


def test_zpl_unterminated_format_is_bounded() -> None:
    dec = zpl.ZplStreamDecoder()
    dec.feed(b"^XA^FD" + b"x" * (zpl.MAX_FORMAT_BYTES + 1))
    with pytest.raises(RemoteProtocolError, match="without \\^XZ"):
        dec.next_message()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_zpl_fuzz(data: bytes) -> None:
    dec = zpl.ZplStreamDecoder()
    dec.feed(data)
    try:
        for _ in range(len(data) + 1):
            m = dec.next_message()
            if isinstance(m, NeedData):
                break
            assert isinstance(m, zpl.LabelFormat | zpl.ControlCommand)
            if isinstance(m, zpl.LabelFormat):
                with contextlib.suppress(RemoteProtocolError):
                    zpl.interpret(m)
    except RemoteProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "^XA",
                "^XZ",
                "^FO1,2",
                "^FD",
                "^FS",
                "~HS",
                "~JA",
                "^FH",
                "_5E",
                "_G",
                "x",
                "\n",
                "^CI28",
                "^BCN,10",
                "^A0N,20,20",
            ]
        ),
        max_size=30,
    )
)
def test_zpl_fuzz_near_valid(tokens: list[str]) -> None:
    test_zpl_fuzz.hypothesis.inner_test("".join(tokens).encode())  # type: ignore[attr-defined]


# --- label builder ------------------------------------------------------------------------


def test_escape_field_escapes_prefixes_indicator_and_controls() -> None:
    assert zpl.escape_field("a^b~c_d\re") == b"a_5Eb_7Ec_5Fd_0De"
    assert zpl.escape_field("张") == "张".encode()
    assert zpl.unescape_field(zpl.escape_field("^~_张\n").decode()) == "^~_张\n"


def test_build_label_layout() -> None:
    wire = zpl.build_label(LABEL)
    assert wire.startswith(b"^XA\n^CI28\n") and wire.rstrip().endswith(b"^XZ")
    (fmt,) = _decode(wire)
    assert isinstance(fmt, zpl.LabelFormat)
    assert zpl.ZplCommand("BC", "N,160,Y,N,N,A") in fmt.commands
    layout = zpl.interpret(fmt)
    assert layout.barcodes() == ["SF1234567890123"]
    (bc,) = [f for f in layout.fields if isinstance(f, zpl.BarcodeField)]
    assert bc.module == 3 and bc.height == 160
    texts = layout.texts()
    # The privacy waybill (GB/T 41833-2022): name, phone and room masked on the label.
    assert "收 张****  *******8000" in texts
    assert not any("13800138000" in t or "张三" in t for t in texts)
    assert "广东省 深圳市 南山区" in texts
    assert "科技园南路 88 号\n3 栋" in texts
    assert any("1250 g" in t for t in texts)
    assert any("GJ-2024-0001" in t for t in texts)
    assert b"\n3" not in wire.split(b"88")[1][:8]  # the newline went out escaped


def test_long_waybill_gets_narrower_bars_and_fits() -> None:
    long = zpl.ShippingLabel(**{**LABEL.__dict__, "waybill": "JD" + "A1" * 19})
    (fmt,) = _decode(zpl.build_label(long))
    assert isinstance(fmt, zpl.LabelFormat)
    (bc,) = [f for f in zpl.interpret(fmt).fields if isinstance(f, zpl.BarcodeField)]
    assert bc.module < 3
    assert bc.x + zpl.code128_module_estimate(bc.data) * bc.module <= 800


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"waybill": "SF 123"}, "letters, digits or dashes"),
        ({"waybill": "SF>;12"}, "letters, digits or dashes"),
        ({"waybill": ""}, "letters, digits or dashes"),
        ({"weight_g": -1}, "negative"),
        ({"weight_g": 1.5}, "int number of grams"),
    ],
)
def test_shipping_label_rejects(change: dict[str, object], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        zpl.ShippingLabel(**{**LABEL.__dict__, **change})


def test_interpret_rejects_bad_hex_escape() -> None:
    (fmt,) = _decode(b"^XA^CI28^FH^FDab_G1^FS^XZ")
    assert isinstance(fmt, zpl.LabelFormat)
    with pytest.raises(RemoteProtocolError, match="not two hex digits"):
        zpl.interpret(fmt)


# --- ~HS host status ----------------------------------------------------------------------

HS_SAMPLES: list[zpl.HostStatus] = [
    zpl.HostStatus(),
    zpl.HostStatus(paper_out=True, paused=True, formats_in_buffer=3, partial_format=True),
    zpl.HostStatus(
        head_open=True,
        ribbon_out=True,
        thermal_transfer=True,
        print_mode="K",
        labels_remaining=12345678,
        graphics_stored=7,
        password=1234,
        static_ram=True,
        interface_settings=129,
        function_settings=201,
    ),
    zpl.HostStatus(
        buffer_full=True,
        diagnostic_mode=True,
        corrupt_ram=True,
        under_temperature=True,
        over_temperature=True,
        label_waiting=True,
        label_length_dots=9999,
        print_width_mode=1,
    ),
]


@pytest.mark.parametrize("status", HS_SAMPLES)
def test_hs_round_trip(status: zpl.HostStatus) -> None:
    wire = zpl.encode_host_status(status)
    assert wire.count(b"\x02") == 3 and wire.count(b"\x03\r\n") == 3
    assert zpl.decode_host_status(wire) == status


@pytest.mark.parametrize("status", HS_SAMPLES)
def test_hs_every_prefix_needs_data(status: zpl.HostStatus) -> None:
    wire = zpl.encode_host_status(status)
    for cut in range(len(wire) - 2):  # the final CR LF is optional
        dec = zpl.HostStatusDecoder()
        dec.feed(wire[:cut])
        assert dec.next_message() is NEED_DATA, wire[:cut]


def test_hs_two_answers_back_to_back() -> None:
    dec = zpl.HostStatusDecoder()
    dec.feed(b"".join(zpl.encode_host_status(s) for s in HS_SAMPLES))
    assert [dec.next_message() for _ in HS_SAMPLES] == HS_SAMPLES
    assert dec.next_message() is NEED_DATA


def test_hs_fields_sit_where_the_guide_puts_them() -> None:
    one, _two, three = zpl.encode_host_status(HS_SAMPLES[1]).split(b"\r\n")[:3]
    assert one.split(b",")[1:3] == [b"1", b"1"]  # b paper out, c pause
    assert one.split(b",")[4] == b"003"  # eee formats in buffer
    two_b = zpl.encode_host_status(HS_SAMPLES[2]).split(b"\r\n")[1].split(b",")
    assert two_b[2:4] == [b"1", b"1"]  # o head up, p ribbon out
    assert two_b[8] == b"12345678"  # uuuuuuuu labels remaining
    assert three == b"\x020000,0\x03"


_GOOD = zpl.encode_host_status(zpl.HostStatus())
HS_BAD = [
    (b"x" + _GOOD, "must start with STX"),
    (_GOOD.replace(b"000,0,0,1200", b"000,0,0", 1), "string 1 has 11 fields, the guide lists 12"),
    (_GOOD.replace(b"000,0,0,1200", b"000,2,0,1200", 1), "field 2 '2' is not a 0/1 flag"),
    (_GOOD.replace(b"1200", b"12a0", 1), "field 4 '12a0' is not a number"),
    (b"\x02" + b"0" * 100, "has no ETX"),
    (b"\x02000\x02", "has no ETX"),
    (b"\x02\xff\x03", "non-ASCII"),
]


@pytest.mark.parametrize(("data", "text"), HS_BAD)
def test_hs_bad_bytes(data: bytes, text: str) -> None:
    dec = zpl.HostStatusDecoder()
    dec.feed(data)
    with pytest.raises(RemoteProtocolError, match=text):
        dec.next_message()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_hs_fuzz(data: bytes) -> None:
    dec = zpl.HostStatusDecoder()
    dec.feed(data)
    try:
        m = dec.next_message()
        assert m is NEED_DATA or isinstance(m, zpl.HostStatus)
    except RemoteProtocolError:
        pass


def test_problems_words() -> None:
    assert HS_SAMPLES[0].ready
    assert HS_SAMPLES[1].problems() == ["paper out", "paused"]
    assert HS_SAMPLES[2].problems() == ["head open", "ribbon out"]


# --- ESC/POS ------------------------------------------------------------------------------

ESCPOS_SAMPLES: list[tuple[bytes, list[escpos.EscPosEvent]]] = [
    (b"\x1b@", [escpos.Command("ESC @ initialize", b"\x1b@")]),
    (b"\x10\x04\x01", [escpos.StatusRequest(1)]),
    (b"\x10\x04\x04", [escpos.StatusRequest(4)]),
    (b"Total 12.50\n", [escpos.Text(b"Total 12.50\n")]),
    ("张三\n".encode("gb18030"), [escpos.Text("张三\n".encode("gb18030"))]),
    (b"\x1ba\x01", [escpos.Command("ESC a justification", b"\x1ba\x01")]),
    (b"\x1dV\x00", [escpos.Command("GS V cut", b"\x1dV\x00")]),
    (b"\x1dVA\x03", [escpos.Command("GS V cut", b"\x1dVA\x03")]),
]


def _escpos_all(data: bytes) -> list[escpos.EscPosEvent]:
    dec = escpos.EscPosStreamDecoder()
    dec.feed(data)
    out: list[escpos.EscPosEvent] = []
    while not isinstance(m := dec.next_message(), NeedData):
        out.append(m)
    return out


@pytest.mark.parametrize(("wire", "msgs"), ESCPOS_SAMPLES)
def test_escpos_stream_samples(wire: bytes, msgs: list[escpos.EscPosEvent]) -> None:
    assert _escpos_all(wire) == msgs
    for cut in range(len(wire)):
        dec = escpos.EscPosStreamDecoder()
        dec.feed(wire[:cut])
        assert dec.next_message() is NEED_DATA


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\x1b\xee", "unknown ESC/POS command 0x1B 0xEE"),
        (b"\x10\x05", "only DLE EOT n"),
        (b"\x10\x04\x09", "n must be 1..4"),
        (b"\x1dV\x07", "unknown cut mode"),
        (b"\x00\x00", "unknown ESC/POS command 0x00"),
    ],
)
def test_escpos_bad_bytes(data: bytes, text: str) -> None:
    with pytest.raises(RemoteProtocolError, match=text):
        _escpos_all(data)


STATUS_SAMPLES = [
    escpos.RealtimeStatus(1, 0),
    escpos.RealtimeStatus(1, 0x08),
    escpos.RealtimeStatus(2, 0x24),
    escpos.RealtimeStatus(4, 0x6C),
]


@pytest.mark.parametrize("status", STATUS_SAMPLES)
def test_escpos_status_round_trip(status: escpos.RealtimeStatus) -> None:
    wire = escpos.encode_status(status)
    assert escpos.decode_status(status.n, wire) == status
    assert escpos.decode_status(status.n, b"") is NEED_DATA


def test_escpos_status_flags_and_bad_bytes() -> None:
    assert STATUS_SAMPLES[1].offline and not STATUS_SAMPLES[0].offline
    assert STATUS_SAMPLES[2].cover_open and STATUS_SAMPLES[2].paper_end_stop
    assert STATUS_SAMPLES[3].paper_end and STATUS_SAMPLES[3].paper_near_end
    with pytest.raises(RemoteProtocolError, match="not an ESC/POS status byte"):
        escpos.decode_status(1, b"\x01")
    with pytest.raises(RemoteProtocolError, match="one byte, got 2"):
        escpos.decode_status(1, b"\x12\x12")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_escpos_fuzz(data: bytes) -> None:
    dec = escpos.EscPosStreamDecoder()
    dec.feed(data)
    try:
        for _ in range(len(data) + 1):
            m = dec.next_message()
            if isinstance(m, NeedData):
                break
            assert isinstance(m, escpos.Text | escpos.Command | escpos.StatusRequest)
    except RemoteProtocolError:
        pass
