"""EPC SGTIN-96 encode/decode (GS1 EPC Tag Data Standard 1.13 §14.5.1) via epcpy.

An SGTIN-96 is: header 0x30 (8 bits), filter (3), partition (3), GS1 company
prefix and item reference (44 bits split by the partition table, TDS
§14.5.1.1), serial (38 bits). ``3034257BF7194E4000003039`` is
``urn:epc:id:sgtin:0614141.812345.12345`` with filter 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue
from epcpy.utils.common import ConvertException

#: EPC binary header for SGTIN-96 (TDS §14.2, table 14-1).
SGTIN96_HEADER = 0x30
_HEX96 = re.compile(r"[0-9A-Fa-f]{24}")


class EPCError(ValueError):
    """The value is not a valid SGTIN-96; the message says why."""


@dataclass(frozen=True, slots=True)
class SGTIN96:
    """A decoded SGTIN-96. ``item_reference`` includes the indicator digit."""

    filter: int
    company_prefix: str
    item_reference: str
    serial: int

    @property
    def gtin14(self) -> str:
        body = self.item_reference[0] + self.company_prefix + self.item_reference[1:]
        return body + _gs1_check_digit(body)

    @property
    def uri(self) -> str:
        """Pure identity URI (TDS §6.3.1), e.g. ``urn:epc:id:sgtin:0614141.812345.12345``."""
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.item_reference}.{self.serial}"

    @property
    def tag_uri(self) -> str:
        """Tag URI with the filter value (TDS §12.3)."""
        return (
            f"urn:epc:tag:sgtin-96:{self.filter}.{self.company_prefix}."
            f"{self.item_reference}.{self.serial}"
        )

    @property
    def hex(self) -> str:
        return encode_sgtin96(self.uri, filter_value=self.filter)

    @property
    def epc_bytes(self) -> bytes:
        return bytes.fromhex(self.hex)


def _gs1_check_digit(digits: str) -> str:
    # GS1 General Specifications §7.9.1: weights 3,1,3,... from the right.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def decode_sgtin96(epc: str | bytes) -> SGTIN96:
    """Decode 24 hex digits (or 12 bytes) of an SGTIN-96 EPC."""
    hex_text = epc.hex() if isinstance(epc, bytes | bytearray) else epc.strip()
    if not _HEX96.fullmatch(hex_text):
        raise EPCError(f"SGTIN-96 needs 24 hex digits (96 bits), got {hex_text!r}")
    header = int(hex_text[:2], 16)
    if header != SGTIN96_HEADER:
        raise EPCError(
            f"EPC header 0x{header:02X} is not SGTIN-96 (0x30); {hex_text.upper()} "
            "is another EPC scheme"
        )
    try:
        sgtin = SGTIN.from_hex(hex_text.upper())
    except (ConvertException, ValueError, IndexError) as err:
        raise EPCError(f"{hex_text.upper()} is not a valid SGTIN-96: {err}") from err
    return SGTIN96(
        # Filter: the 3 bits after the 8-bit header (TDS §14.5.1).
        filter=int(hex_text[2:4], 16) >> 5,
        company_prefix=sgtin._company_pref,
        item_reference=sgtin._item_ref,
        serial=int(sgtin._serial),
    )


def encode_sgtin96(uri: str, filter_value: int = 1) -> str:
    """Encode a pure identity or SGTIN-96 tag URI as 24 upper-case hex digits.

    A tag URI carries its own filter; for a pure identity ``filter_value`` is
    used (1 = point-of-sale trade item, TDS §10.1 table 10-2).
    """
    try:
        if uri.startswith("urn:epc:tag:sgtin-96:"):
            sgtin = SGTIN.from_tag_uri(uri)
            filter_value = int(uri.split(":")[4].split(".")[0])
        elif uri.startswith("urn:epc:id:sgtin:"):
            sgtin = SGTIN(uri)
        else:
            raise EPCError(f"{uri!r} is neither an SGTIN pure identity nor an SGTIN-96 tag URI")
        serial = uri.rsplit(".", 1)[-1]
        # SGTIN-96 serials are integers below 2**38 with no leading zero (TDS §14.5.1).
        if not serial.isdigit() or (len(serial) > 1 and serial[0] == "0") or int(serial) >= 2**38:
            raise EPCError(
                f"{uri!r}: serial {serial!r} does not fit SGTIN-96 (a number below 2**38 "
                "without leading zeros)"
            )
        return str(
            sgtin.hex(
                binary_coding_scheme=SGTIN.BinaryCodingScheme.SGTIN_96,
                filter_value=SGTINFilterValue(str(filter_value)),
            )
        ).zfill(24)
    except ConvertException as err:
        raise EPCError(f"{uri!r} cannot be encoded as SGTIN-96: {err}") from err
    except ValueError as err:
        if isinstance(err, EPCError):
            raise
        raise EPCError(f"{uri!r} cannot be encoded as SGTIN-96: {err}") from err


def parse_epc(value: str) -> bytes:
    """Accept 24 hex digits, a pure identity URI or a tag URI; return the 12 EPC bytes."""
    text = value.strip()
    if text.startswith("urn:"):
        return bytes.fromhex(encode_sgtin96(text))
    if not _HEX96.fullmatch(text):
        raise EPCError(f"EPC must be 24 hex digits or an SGTIN URI, got {value!r}")
    return bytes.fromhex(text)
