"""~HQES and ~HI codecs (protocol/devices/zpl_query.py): round trips and clear refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.devices import zpl, zpl_query
from protocol.errors import NEED_DATA, RemoteProtocolError


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(1, 60))
def test_hqes_round_trips_in_any_chunks(errors: int, warnings: int, cut: int) -> None:
    data = zpl_query.encode_host_query_status(zpl_query.HostQueryStatus(errors, warnings))
    dec = zpl_query.HostQueryDecoder()
    dec.feed(data[:cut])
    if cut < len(data) - 2:  # the trailing CR LF is optional to the decoder
        assert dec.next_message() is NEED_DATA
    dec.feed(data[cut:])
    assert dec.next_message() == zpl_query.HostQueryStatus(errors, warnings)


def test_problem_and_warning_words() -> None:
    s = zpl_query.HostQueryStatus(
        zpl_query.CUTTER_FAULT | zpl_query.MOTOR_OVER_TEMPERATURE | 1 << 40,
        zpl_query.CLEAN_PRINTHEAD,
    )
    assert s.problems() == ["cutter fault", "motor over temperature", "flags 0x10000000000"]
    assert s.warning_words() == ["clean printhead"]
    hs = zpl.HostStatus(paper_out=True, query=zpl_query.HostQueryStatus(zpl_query.MEDIA_OUT | 8))
    assert hs.problems() == ["paper out", "cutter fault"]  # not twice


@pytest.mark.parametrize(
    ("group1", "words"),
    [
        # ZPL Programming Guide, ~WQ, Table 11 "Warning Flags (~WQES)", nibble 1.
        ("00000008", ["paper near end"]),
        ("00000004", ["replace printhead"]),
        ("00000002", ["clean printhead"]),
        ("00000001", ["media needs calibration"]),
        ("0000000A", ["clean printhead", "paper near end"]),
    ],
)
def test_warning_bits_read_as_the_zpl_guide_says(group1: str, words: list[str]) -> None:
    dec = zpl_query.HostQueryDecoder()
    dec.feed(
        b"\x02\r\n  PRINTER STATUS\r\n    ERRORS:         0 00000000 00000000\r\n"
        b"    WARNINGS:       1 00000000 " + group1.encode() + b"\r\n\x03\r\n"
    )
    status = dec.next_message()
    assert isinstance(status, zpl_query.HostQueryStatus)
    assert status.warning_words() == words


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"PRINTER STATUS", "must start with STX"),
        (b"\x02\r\n PRINTER STATUS\r\n ERRORS: 1 0 0\r\n WARNINGS: 0 0 0\r\n\x03", "eight hex"),
        (
            b"\x02\r\nPRINTER STATUS\r\nERRORS: 1 00000000 00000000\r\n"
            b"WARNINGS: 0 00000000 00000000\r\n\x03",
            "contradicts",
        ),
        (b"\x02\r\nHELLO\r\n\x03", "not a PRINTER STATUS block"),
        (b"\x02" + b"x" * 600, "no ETX"),
    ],
)
def test_bad_hqes_answers_are_refused_clearly(data: bytes, words: str) -> None:
    dec = zpl_query.HostQueryDecoder()
    dec.feed(data)
    with pytest.raises(RemoteProtocolError, match=words):
        dec.next_message()


def test_hi_round_trip_and_refusal() -> None:
    ident = zpl_query.HostIdentification("ZD-TEST", "V1.2.3", 12, 4096, "C")
    data = zpl_query.encode_host_identification(ident)
    assert zpl_query.decode_host_identification(data) == ident
    assert zpl_query.decode_host_identification(data[:5]) is NEED_DATA
    with pytest.raises(RemoteProtocolError, match="model,version"):
        zpl_query.decode_host_identification(b"\x02ZD,V1,eight,4096KB\x03")


def test_a_bare_hqes_is_a_complete_control_command() -> None:
    dec = zpl.ZplStreamDecoder()
    dec.feed(b"~HQ")
    assert dec.next_message() is NEED_DATA
    dec.feed(b"ES")
    assert dec.next_message() == zpl.ControlCommand("HQ", "ES")
