"""SGTIN-96 (GS1 TDS §14.5.1) encode/decode."""

from __future__ import annotations

import pytest

from protocol.devices.epc import SGTIN96, EPCError, decode_sgtin96, encode_sgtin96, parse_epc

HEX = "3034257BF7194E4000003039"
URI = "urn:epc:id:sgtin:0614141.812345.12345"


def test_tds_example_decodes() -> None:
    v = decode_sgtin96(HEX)
    assert v == SGTIN96(filter=1, company_prefix="0614141", item_reference="812345", serial=12345)
    assert v.uri == URI
    assert v.gtin14 == "80614141123458"
    assert v.tag_uri == "urn:epc:tag:sgtin-96:1.0614141.812345.12345"
    assert v.hex == HEX
    assert decode_sgtin96(bytes.fromhex(HEX)) == v
    assert decode_sgtin96(HEX.lower()) == v


def test_encode_pure_identity_and_tag_uri() -> None:
    assert encode_sgtin96(URI) == HEX
    assert encode_sgtin96("urn:epc:tag:sgtin-96:3.0614141.812345.12345") == (
        "3074257BF7194E4000003039"
    )
    assert decode_sgtin96("3074257BF7194E4000003039").filter == 3


@pytest.mark.parametrize(
    ("uri", "company"),
    [
        ("urn:epc:id:sgtin:061414112345.1.99", "061414112345"),  # 12-digit prefix, partition 0
        ("urn:epc:id:sgtin:123456.7890123.274877906943", "123456"),  # 6 digits, max serial
    ],
)
def test_round_trip_other_partitions(uri: str, company: str) -> None:
    v = decode_sgtin96(encode_sgtin96(uri))
    assert v.uri == uri
    assert v.company_prefix == company


def test_parse_epc_accepts_hex_and_uris() -> None:
    raw = bytes.fromhex(HEX)
    assert parse_epc(HEX) == raw
    assert parse_epc(URI) == raw
    assert parse_epc("urn:epc:tag:sgtin-96:1.0614141.812345.12345") == raw


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("zz", "24 hex digits"),
        ("3034257BF7194E40000030", "24 hex digits"),
        ("3534257BF7194E4000003039", "header 0x35 is not SGTIN-96"),
        ("E280116060000209F1A2B3C4", "header 0xE2 is not SGTIN-96"),
        ("303C257BF7194E4000003039", "not a valid SGTIN-96"),  # partition 7 is reserved
    ],
)
def test_decode_errors(value: str, needle: str) -> None:
    with pytest.raises(EPCError, match=needle):
        decode_sgtin96(value)


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("urn:epc:id:sgtin:0614141.812345.0123", "leading zeros"),
        ("urn:epc:id:sgtin:0614141.812345.274877906944", "below 2\\*\\*38"),
        ("urn:epc:id:sscc:0614141.1234567890", "neither an SGTIN"),
        ("urn:epc:id:sgtin:0614141.81234.1", "cannot be encoded"),
    ],
)
def test_encode_errors(uri: str, needle: str) -> None:
    with pytest.raises(EPCError, match=needle):
        encode_sgtin96(uri)
