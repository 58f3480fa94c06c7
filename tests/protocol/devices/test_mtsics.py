"""MT-SICS codec: one sample list drives round-trip, truncation and stream tests."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.devices import mtsics
from protocol.devices.mtsics import (
    Command,
    CommandDecoder,
    CommandName,
    ErrorCode,
    ErrorReply,
    ReplyDecoder,
    SerialNumberReply,
    Status,
    StatusReply,
    WeightReply,
)
from protocol.errors import NEED_DATA, RemoteProtocolError

REPLIES: list[tuple[bytes, mtsics.Reply]] = [
    (b"S S     1234.5 g\r\n", WeightReply("S", True, Decimal("1234.5"), "g")),
    (b"S D     1234.5 g\r\n", WeightReply("S", False, Decimal("1234.5"), "g")),
    (b"S S    -12.345 kg\r\n", WeightReply("S", True, Decimal("-12.345"), "kg")),
    (b"S S          0 g\r\n", WeightReply("S", True, Decimal(0), "g")),
    (b"S S 12345678.90 lb\r\n", WeightReply("S", True, Decimal("12345678.90"), "lb")),
    (b"S I\r\n", StatusReply("S", Status.NOT_EXECUTABLE)),
    (b"S +\r\n", StatusReply("S", Status.OVER)),
    (b"S -\r\n", StatusReply("S", Status.UNDER)),
    (b"Z A\r\n", StatusReply("Z", Status.DONE)),
    (b"Z I\r\n", StatusReply("Z", Status.NOT_EXECUTABLE)),
    (b"Z +\r\n", StatusReply("Z", Status.OVER)),
    (b"T S     100.00 g\r\n", WeightReply("T", True, Decimal("100.00"), "g")),
    (b"T I\r\n", StatusReply("T", Status.NOT_EXECUTABLE)),
    (b"T -\r\n", StatusReply("T", Status.UNDER)),
    (b'I4 A "B021002593"\r\n', SerialNumberReply("B021002593")),
    (b"ES\r\n", ErrorReply(ErrorCode.SYNTAX)),
    (b"ET\r\n", ErrorReply(ErrorCode.TRANSMISSION)),
    (b"EL\r\n", ErrorReply(ErrorCode.LOGICAL)),
]

COMMANDS: list[tuple[bytes, Command]] = [
    (f"{name.value}\r\n".encode(), Command(name)) for name in CommandName
]

BAD_REPLIES: list[tuple[bytes, str]] = [
    (b"\r\n", "empty MT-SICS line"),
    (b"   \r\n", "holds only blanks"),  # found by the fuzz test: it raised IndexError
    (b"S S  12\x00.5 g\r\n", "non-printable byte 0x00 at column 7"),
    (b"S S \xff\xfe g\r\n", "non-printable byte 0xff"),
    (b"XYZ 1\r\n", "unknown MT-SICS reply 'XYZ 1'"),
    (b"S Q 1.0 g\r\n", "has no valid status character"),
    (b"S\r\n", "has no valid status character"),
    (b"S S\r\n", "has status S but no weight value"),
    (b"S A\r\n", "S never answers status A"),
    (b"Z S\r\n", "Z never answers status S"),
    (b"S I 12.0 g\r\n", "S I carries no weight value"),
    (b"T D 12.0 g\r\n", "T D carries no weight value"),
    (b"S S 1.2.3 g\r\n", "weight value '1.2.3' is not a number"),
    (b"S S 12.0\r\n", "is not 'ID status value unit'"),
    (b"S S 12.0 g extra\r\n", "is not 'ID status value unit'"),
    (b"S S 12.0 #g\r\n", "weight unit '#g' is not a unit"),
    (b"I4 A B021\r\n", 'is not I4 A "serial number"'),
]

BAD_COMMANDS: list[tuple[bytes, str]] = [
    (b"si\r\n", "unknown MT-SICS command 'si'"),
    (b"SI 1\r\n", "unknown MT-SICS command 'SI 1'"),
    (b"\x1bSI\r\n", "non-printable byte 0x1b at column 0"),
]


def decode_all(decoder: ReplyDecoder | CommandDecoder, data: bytes) -> list[object]:
    decoder.feed(data)
    out: list[object] = []
    while (message := decoder.next_message()) is not NEED_DATA:
        out.append(message)
    return out


@pytest.mark.parametrize(("wire", "reply"), REPLIES)
def test_reply_round_trip(wire: bytes, reply: mtsics.Reply) -> None:
    assert decode_all(ReplyDecoder(), wire) == [reply]
    assert mtsics.encode_reply(reply) == wire


@pytest.mark.parametrize(("wire", "command"), COMMANDS)
def test_command_round_trip(wire: bytes, command: Command) -> None:
    assert decode_all(CommandDecoder(), wire) == [command]
    assert mtsics.encode_command(command) == wire


@pytest.mark.parametrize("wire", [w for w, _ in REPLIES + COMMANDS])
def test_every_prefix_needs_data(wire: bytes) -> None:
    for cut in range(len(wire)):
        for decoder in (ReplyDecoder(), CommandDecoder()):
            decoder.feed(wire[:cut])
            assert decoder.next_message() is NEED_DATA, (wire, cut)


def test_stream_of_all_samples_byte_by_byte() -> None:
    decoder = ReplyDecoder()
    out: list[object] = []
    for byte in b"".join(w for w, _ in REPLIES):
        out += decode_all(decoder, bytes([byte]))
    assert out == [r for _, r in REPLIES]


def test_weight_field_is_ten_wide_right_aligned() -> None:
    # §2.1.2.1: "S S" + space + 10-character value + space + unit.
    wire = mtsics.encode_reply(WeightReply("S", True, Decimal("100.00"), "g"))
    assert wire == b"S S     100.00 g\r\n"
    assert len(wire.split(b" g")[0]) == 3 + 1 + 10


@pytest.mark.parametrize(("wire", "error"), BAD_REPLIES)
def test_bad_reply_raises_then_resyncs(wire: bytes, error: str) -> None:
    decoder = ReplyDecoder()
    decoder.feed(wire + REPLIES[0][0])
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_message()
    assert error in str(info.value)
    assert decoder.next_message() == REPLIES[0][1]
    assert decoder.next_message() is NEED_DATA


@pytest.mark.parametrize(("wire", "error"), BAD_COMMANDS)
def test_bad_command_raises_then_resyncs(wire: bytes, error: str) -> None:
    decoder = CommandDecoder()
    decoder.feed(wire + b"SI\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_message()
    assert error in str(info.value)
    assert decoder.next_message() == Command(CommandName.SEND_IMMEDIATELY)


def test_overlong_line_is_refused_and_skipped_to_next_crlf() -> None:
    decoder = ReplyDecoder()
    decoder.feed(b"x" * 200)
    with pytest.raises(RemoteProtocolError, match="longer than 128 bytes without CR LF"):
        decoder.next_message()
    # More of the same stuck line, ending in a CR whose LF comes later.
    decoder.feed(b"y" * 500 + b"\r")
    assert decoder.next_message() is NEED_DATA
    decoder.feed(b"\nS +\r\n")
    assert decoder.next_message() == StatusReply("S", Status.OVER)
    assert decoder.next_message() is NEED_DATA


def test_overlong_line_with_terminator_in_one_feed() -> None:
    decoder = ReplyDecoder(max_line=16)
    decoder.feed(b"S S " + b"1" * 20 + b" g\r\nS I\r\n")
    with pytest.raises(RemoteProtocolError, match="exceeds the 16-byte limit"):
        decoder.next_message()
    assert decoder.next_message() == StatusReply("S", Status.NOT_EXECUTABLE)


def test_line_of_exactly_max_length_waits_for_its_lf() -> None:
    decoder = ReplyDecoder(max_line=8)
    decoder.feed(b"S S 12 g\r")
    assert decoder.next_message() is NEED_DATA
    decoder.feed(b"\n")
    assert decoder.next_message() == WeightReply("S", True, Decimal(12), "g")


def _drain(decoder: ReplyDecoder, data: bytes) -> None:
    decoder.feed(data)
    for _ in range(len(data) + 2):
        try:
            message = decoder.next_message()
        except RemoteProtocolError:
            continue
        if message is NEED_DATA:
            return
        assert isinstance(message, WeightReply | StatusReply | SerialNumberReply | ErrorReply)
    pytest.fail("decoder did not come back to NEED_DATA: it must consume bytes on every call")


_alphabet = st.sampled_from([b"S", b" ", b"D", b"1", b".", b"g", b"\r", b"\n", b"\xff", b"Z A"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.lists(_alphabet, max_size=120).map(b"".join)))
def test_fuzz_reply_decoder(data: bytes) -> None:
    _drain(ReplyDecoder(), data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_command_decoder(data: bytes) -> None:
    decoder = CommandDecoder()
    decoder.feed(data)
    for _ in range(len(data) + 2):
        try:
            message = decoder.next_message()
        except RemoteProtocolError:
            continue
        if message is NEED_DATA:
            return
        assert isinstance(message, Command)
    pytest.fail("command decoder did not come back to NEED_DATA")
