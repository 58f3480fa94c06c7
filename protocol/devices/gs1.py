"""GS1 barcode data: what a scanned string says (GTIN, batch, serial, expiry ...).

A thin typed wrapper over the ``biip`` library (Apache-2.0), which knows the
GS1 Application Identifier table and the check digit rules. We add what a
warehouse needs on top:

* The AIM symbology identifier a scanner can prefix ("]C1" GS1-128, "]d2"
  GS1 DataMatrix, "]Q3" GS1 QR, "]e0" GS1 DataBar, "]E0" EAN/UPC, "]E4"
  EAN-8, "]I1" ITF-14; ISO/IEC 15424 and GS1 General Specifications figure
  5.1.2-2) decides how the rest is read. A symbology that carries no GS1 data
  ("]C0" plain Code 128, "]Q1" plain QR) is an error here: the caller looks
  such a code up as an internal barcode instead.
* Without a prefix, 8, 12, 13 or 14 digits are a GTIN (what an EAN/UPC
  scanner sends by default); other input must be a GS1 element string (or
  its human-readable "(01)..." form).
* FNC1 arrives as GS (0x1D) between variable-length fields (GS1 General
  Specifications section 7.8.6); biip splits on it.
* A wrong check digit anywhere (GTIN, SSCC, GLN) is an error that says
  "check digit", never a silently accepted code.
* Dates (AIs 11-17, YYMMDD) are computed here, not by biip, because the
  century depends on the current year (GS1 General Specifications section 7.12)
  and protocol code takes no wall clock (nor imports ``datetime``): the
  caller passes ``current_year`` and gets :class:`GS1Date` tuples, which
  ``datetime.date(*d)`` turns into dates. Day ``00`` means the last day of
  the month (section 3.4, AIs 15/16/17).

Every failure raises :class:`GS1Error` (a :class:`RemoteProtocolError`)
whose message says what was wrong.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Final, NamedTuple

from biip import ParseConfig, ParseError
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.symbology import GS1Symbology, SymbologyIdentifier

from protocol.errors import RemoteProtocolError

GS: Final = "\x1d"

_DATE_AIS: Final = {
    "11": "production_date",
    "12": "due_date",
    "13": "packaging_date",
    "15": "best_before",
    "16": "sell_by",
    "17": "expiry",
}
_GTIN_LENGTHS: Final = (8, 12, 13, 14)
# biip reads dates with its own clock; we read them ourselves (module docstring).
_CONFIG: Final = ParseConfig(gs1_element_strings_verify_date=False)


class GS1Date(NamedTuple):
    """A calendar date from a GS1 YYMMDD field; ``datetime.date(*d)`` converts it."""

    year: int
    month: int
    day: int

    def isoformat(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


class GS1Error(RemoteProtocolError):
    """The scanned string is not valid GS1 data; the message says why."""


@dataclass(frozen=True, slots=True)
class GS1Element:
    """One element string: Application Identifier, its GS1 data title, its value."""

    ai: str
    title: str
    value: str


@dataclass(frozen=True, slots=True)
class GS1Data:
    """What a GS1 barcode says. ``gtin`` is as encoded (8-14 digits)."""

    raw: str
    symbology: str | None
    elements: tuple[GS1Element, ...]
    gtin: str | None = None
    sscc: str | None = None
    batch: str | None = None
    serial: str | None = None
    count: int | None = None
    expiry: GS1Date | None = None
    best_before: GS1Date | None = None
    production_date: GS1Date | None = None
    packaging_date: GS1Date | None = None
    sell_by: GS1Date | None = None
    due_date: GS1Date | None = None
    add_on: str | None = None

    @property
    def gtin14(self) -> str | None:
        """The GTIN zero-padded to 14 digits, the form to compare GTINs in."""
        return None if self.gtin is None else self.gtin.zfill(14)

    def get(self, ai: str) -> str | None:
        """The value of the first element with this AI, e.g. ``get("310")`` prefix match."""
        return next((e.value for e in self.elements if e.ai.startswith(ai)), None)


def split_symbology(text: str) -> tuple[str | None, str]:
    """Split an AIM symbology identifier (``]`` + code + modifier) off the front."""
    if not text.startswith("]"):
        return None, text
    if len(text) < 3:
        raise GS1Error(f"AIM symbology identifier {text!r} is cut short: ']' + code + modifier")
    return text[:3], text[3:]


def gs1_date(yymmdd: str, current_year: int, ai: str = "17") -> GS1Date:
    """A GS1 YYMMDD date; century per GS1 General Specifications section 7.12."""
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        raise GS1Error(f"AI ({ai}) date {yymmdd!r} is not six digits YYMMDD")
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    # 7.12: YY minus this year's last two digits; 51..99 is last century,
    # -99..-50 next century, anything else this century.
    this_century = current_year - current_year % 100
    diff = yy - current_year % 100
    if 51 <= diff <= 99:
        this_century -= 100
    elif -99 <= diff <= -50:
        this_century += 100
    year = this_century + yy
    if not 1 <= month <= 12:
        raise GS1Error(f"AI ({ai}) date {yymmdd!r} has month {month:02d}")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        day = last  # "00": end of the month
    if day > last:
        raise GS1Error(f"AI ({ai}) date {yymmdd!r}: {year}-{month:02d} has no day {day}")
    return GS1Date(year, month, day)


def parse(text: str, *, current_year: int) -> GS1Data:
    """Read a scanned string as GS1 data, or raise :class:`GS1Error` saying why not."""
    raw = text
    symbology, data = split_symbology(text.strip("\r\n"))
    if symbology is not None:
        kind = _gs1_symbology(symbology)
        if kind in GS1Symbology.with_gtin():
            return _parse_gtin_symbol(raw, symbology, data)
        if kind in GS1Symbology.with_gs1_messages():
            return _parse_message(raw, symbology, data, current_year)
        raise GS1Error(f"symbology {symbology} carries no GS1 data (not a GS1 barcode)")
    if data.isdigit() and data.isascii() and len(data) in _GTIN_LENGTHS:
        return GS1Data(raw, None, (_gtin_element(data),), gtin=_check_gtin(data))
    if data.startswith("("):
        return _parse_message(raw, None, data, current_year, hri=True)
    if not data[:2].isdigit():
        raise GS1Error(f"{_show(data)} is not GS1 data: it does not start with an AI")
    return _parse_message(raw, None, data, current_year)


def _gs1_symbology(symbology: str) -> GS1Symbology | None:
    try:
        return SymbologyIdentifier.extract(symbology).gs1_symbology
    except (ParseError, ValueError, IndexError) as err:
        raise GS1Error(f"AIM symbology identifier {symbology!r} is not valid: {err}") from None


def _parse_gtin_symbol(raw: str, symbology: str, data: str) -> GS1Data:
    add_on = None
    if symbology == "]E3" and len(data) in (15, 18):
        data, add_on = data[:13], data[13:]  # EAN-13 followed by a 2/5-digit add-on
    if not (data.isdigit() and data.isascii() and len(data) in _GTIN_LENGTHS):
        raise GS1Error(
            f"symbology {symbology} data {_show(data)} is not a GTIN of 8, 12, 13 or 14 digits"
        )
    return GS1Data(raw, symbology, (_gtin_element(data),), gtin=_check_gtin(data), add_on=add_on)


def _gtin_element(gtin: str) -> GS1Element:
    return GS1Element("01", "GTIN", gtin.zfill(14))


def _check_gtin(digits: str) -> str:
    try:
        Gtin.parse(digits, config=_CONFIG)
    except ParseError as err:
        raise GS1Error(f"GTIN {digits}: {_reason(str(err))}") from None
    return digits


def _parse_message(
    raw: str, symbology: str | None, data: str, current_year: int, hri: bool = False
) -> GS1Data:
    if not data.strip():
        raise GS1Error("no GS1 data after the symbology identifier")
    try:
        if hri:
            message = GS1Message.parse_hri(data, config=_CONFIG)
        else:
            message = GS1Message.parse(data, config=_CONFIG)
    except (ParseError, ValueError, IndexError) as err:
        raise GS1Error(f"not a valid GS1 element string: {err}") from None
    fields: dict[str, object] = {}
    elements = []
    for es in message.element_strings:
        ai = es.ai.ai
        if not es.value:
            # biip lets an empty variable-length field through ("30" alone).
            raise GS1Error(f"AI ({ai}) has no value")
        elements.append(GS1Element(ai, es.ai.data_title, es.value))
        for problem in (es.gtin_error, es.sscc_error, es.gln_error):
            if problem:
                raise GS1Error(f"AI ({ai}) {es.value}: {_reason(problem)}")
        if ai == "01":
            fields.setdefault("gtin", es.value)
        elif ai == "00":
            fields.setdefault("sscc", es.value)
        elif ai == "10":
            fields.setdefault("batch", es.value)
        elif ai == "21":
            fields.setdefault("serial", es.value)
        elif ai in ("30", "37"):
            if not es.value.isdigit():
                raise GS1Error(f"AI ({ai}) count {es.value!r} is not a number")
            fields.setdefault("count", int(es.value))
        elif ai in _DATE_AIS:
            fields.setdefault(_DATE_AIS[ai], gs1_date(es.value, current_year, ai))
    return GS1Data(raw, symbology, tuple(elements), **fields)  # type: ignore[arg-type]


def _reason(biip_message: str) -> str:
    # biip says "Invalid GTIN check digit for '...': Expected 7, got 8."; keep
    # it, but make sure the words "check digit" lead for the operator.
    if "check digit" in biip_message:
        return f"wrong check digit ({biip_message.rstrip('.')})"
    return biip_message.rstrip(".")


def _show(data: str) -> str:
    return repr(data if len(data) <= 40 else data[:40] + "...")
