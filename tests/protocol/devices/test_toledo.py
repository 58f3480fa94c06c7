"""Toledo continuous output codec: one sample list drives every test."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.devices.toledo import (
    ToledoDecoder,
    ToledoFrame,
    checksum,
    encode_frame,
    parse_frame,
)
from protocol.errors import NEED_DATA, RemoteProtocolError


def _wire(swa: int, swb: int, swc: int, weight: bytes, tare: bytes) -> bytes:
    """Build a frame by hand from the manual's table, independent of encode_frame."""
    body = bytes([0x02, swa, swb, swc]) + weight + tare + b"\r"
    return body + bytes([-sum(body) & 0x7F])


# (wire, frame) pairs; the wire bytes are spelled out from the status tables.
SAMPLES: list[tuple[bytes, ToledoFrame]] = [
    # SWA 0x2B: bits 0-2 = 3 (XXXXX.X), bits 3-4 = 01 (x1), bit 5.
    (
        _wire(0x2B, 0x20, 0x21, b" 12345", b"     0"),
        ToledoFrame(Decimal("1234.5"), Decimal(0), "g", 1),
    ),
    # Motion (SWB bit 3), kg (bit 4), net (bit 0), tare 1.00 at 2 places, x2.
    (
        _wire(0x34, 0x39, 0x20, b"   250", b"   100"),
        ToledoFrame(Decimal("2.50"), Decimal("1.00"), "kg", 2, motion=True, net=True, increment=2),
    ),
    # Negative (bit 1) lb, x5 (bits 3-4 = 11), whole units.
    (
        _wire(0x3A, 0x22, 0x20, b"    15", b"     0"),
        ToledoFrame(Decimal(-15), Decimal(0), "lb", 0, increment=5),
    ),
    # Out of range (bit 2), power-up not zeroed (bit 6).
    (
        _wire(0x2A, 0x74, 0x20, b"999999", b"     0"),
        ToledoFrame(Decimal(999999), Decimal(0), "kg", 0, out_of_range=True, power_up=True),
    ),
    # Two dummy zeros (code 0): "12" means 1200; print request and expand bits in SWC.
    (
        _wire(0x28, 0x30, 0x38 | 0x10, b"    12", b"     0"),
        ToledoFrame(Decimal(1200), Decimal(0), "kg", -2, print_request=True, expanded=True),
    ),
    # Five places (code 7), metric tons (SWC code 2).
    (
        _wire(0x2F, 0x20, 0x22, b"100000", b"     0"),
        ToledoFrame(Decimal("1.00000"), Decimal(0), "t", 5),
    ),
]

BAD: list[tuple[bytes, str]] = [
    (b"junk" + SAMPLES[0][0], "skipped 4 bytes of noise before STX"),
    (_wire(0x0B, 0x20, 0x21, b" 12345", b"     0"), "status word A is 0x0b: bit 5 must"),
    (_wire(0x23, 0x20, 0x21, b" 12345", b"     0"), "increment size bits 3-4 are 00"),
    (_wire(0x2B, 0x00, 0x21, b" 12345", b"     0"), "status word B is 0x00"),
    (_wire(0x2B, 0x20, 0x01, b" 12345", b"     0"), "status word C is 0x01"),
    (_wire(0x2B, 0x20, 0x21, b" 12x45", b"     0"), "byte 8 is 0x78: the weight field"),
    (_wire(0x2B, 0x20, 0x21, b" 12345", b"    -1"), "byte 15 is 0x2d: the tare field"),
    (_wire(0x2B, 0x20, 0x21, b" 12 45", b"     0"), "weight field ' 12 45' is not six digits"),
    (_wire(0x2B, 0x20, 0x21, b"      ", b"     0"), "weight field '      ' is not six digits"),
    (SAMPLES[0][0][:16] + b"\n" + SAMPLES[0][0][17:], "byte 17 is 0x0a, expected CR"),
    (SAMPLES[0][0][:17] + bytes([SAMPLES[0][0][17] ^ 1]), "checksum 0x"),
    # A frame cut short by the next STX is dropped as soon as the STX shows up.
    (SAMPLES[0][0][:9] + SAMPLES[1][0], "byte 10 is 0x02"),
]


def decode_all(decoder: ToledoDecoder, data: bytes) -> list[ToledoFrame]:
    decoder.feed(data)
    out = []
    while (frame := decoder.next_message()) is not NEED_DATA:
        out.append(frame)
    return out


@pytest.mark.parametrize(("wire", "frame"), SAMPLES)
def test_round_trip(wire: bytes, frame: ToledoFrame) -> None:
    assert decode_all(ToledoDecoder(), wire) == [frame]
    assert encode_frame(frame) == wire
    assert parse_frame(wire) == frame


@pytest.mark.parametrize(("wire", "frame"), SAMPLES)
def test_round_trip_without_checksum(wire: bytes, frame: ToledoFrame) -> None:
    assert encode_frame(frame, with_checksum=False) == wire[:-1]
    assert decode_all(ToledoDecoder(with_checksum=False), wire[:-1]) == [frame]


@pytest.mark.parametrize(("wire", "frame"), SAMPLES)
def test_every_prefix_needs_data(wire: bytes, frame: ToledoFrame) -> None:
    for cut in range(len(wire)):
        decoder = ToledoDecoder()
        decoder.feed(wire[:cut])
        assert decoder.next_message() is NEED_DATA, cut


def test_checksum_makes_the_seven_bit_sum_zero() -> None:
    for wire, _ in SAMPLES:
        assert sum(wire) & 0x7F == 0
        assert checksum(wire[:-1]) == wire[-1]


def test_parity_bit_is_ignored() -> None:
    # On a 7E1 link read as 8 bits, bit 7 carries parity; the values must not change.
    wire, frame = SAMPLES[1]
    with_parity = bytes([wire[0]]) + bytes(b | 0x80 for b in wire[1:17]) + wire[17:]
    assert decode_all(ToledoDecoder(), with_parity) == [frame]


def test_leading_zeros_are_accepted_as_well_as_spaces() -> None:
    wire = _wire(0x2B, 0x20, 0x21, b"012345", b"000000")
    assert decode_all(ToledoDecoder(), wire) == [SAMPLES[0][1]]


def test_stream_byte_by_byte() -> None:
    decoder = ToledoDecoder()
    out: list[ToledoFrame] = []
    for byte in b"".join(w for w, _ in SAMPLES):
        out += decode_all(decoder, bytes([byte]))
    assert out == [f for _, f in SAMPLES]


@pytest.mark.parametrize(("wire", "error"), BAD)
def test_bad_bytes_raise_then_resync_on_stx(wire: bytes, error: str) -> None:
    decoder = ToledoDecoder()
    decoder.feed(wire + SAMPLES[2][0])
    errors: list[str] = []
    frames: list[ToledoFrame] = []
    for _ in range(100):
        try:
            frame = decoder.next_message()
        except RemoteProtocolError as err:
            errors.append(str(err))
            continue
        if frame is NEED_DATA:
            break
        frames.append(frame)
    assert any(error in e for e in errors), errors
    assert frames[-1] == SAMPLES[2][1]


def test_noise_without_stx_is_dropped() -> None:
    decoder = ToledoDecoder()
    decoder.feed(b"\xff\x00hello")
    with pytest.raises(RemoteProtocolError, match="7 bytes of noise on the line, no STX"):
        decoder.next_message()
    assert decoder.next_message() is NEED_DATA


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (ToledoFrame(Decimal("1.23"), Decimal(0), "g", 1), "does not fit six digits"),
        (ToledoFrame(Decimal(1000000), Decimal(0), "g", 0), "does not fit six digits"),
        (ToledoFrame(Decimal(1), Decimal(0), "g", 6), "decimal_places 6"),
        (ToledoFrame(Decimal(1), Decimal(0), "g", 0, increment=3), "increment 3"),
        (ToledoFrame(Decimal(1), Decimal(0), "stone", 0), "unit 'stone'"),
    ],
)
def test_encoder_refuses_what_the_format_cannot_carry(frame: ToledoFrame, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        encode_frame(frame)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.lists(st.sampled_from([w for w, _ in SAMPLES] + [b"\x02", b"\r", b"1"])).map(b"".join),
    ),
    st.booleans(),
)
def test_fuzz(data: bytes, with_checksum: bool) -> None:
    decoder = ToledoDecoder(with_checksum)
    decoder.feed(data)
    for _ in range(len(data) + 2):
        try:
            frame = decoder.next_message()
        except RemoteProtocolError:
            continue
        if frame is NEED_DATA:
            return
        assert isinstance(frame, ToledoFrame)
    pytest.fail("decoder did not come back to NEED_DATA: it must consume bytes on every call")
