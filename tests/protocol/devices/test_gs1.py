"""GS1 wrapper over biip: AIM prefixes, GS separators, check digits, dates."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.devices import gs1
from protocol.errors import RemoteProtocolError

YEAR = 2025
GS = "\x1d"

# (scanned text, expected fields)
SAMPLES: list[tuple[str, dict[str, object]]] = [
    ("]E05901234123457", {"symbology": "]E0", "gtin": "5901234123457"}),
    ("]E496385074", {"symbology": "]E4", "gtin": "96385074"}),
    ("]E3590123412345712", {"gtin": "5901234123457", "add_on": "12"}),
    ("]I115901234123454", {"symbology": "]I1", "gtin": "15901234123454"}),
    ("5901234123457", {"symbology": None, "gtin": "5901234123457"}),
    ("036000291452", {"gtin": "036000291452"}),  # UPC-A, a GTIN-12
    (
        "]C1010590123412345710ABC123" + GS + "17250630",
        {"gtin": "05901234123457", "batch": "ABC123", "expiry": dt.date(2025, 6, 30)},
    ),
    (
        "]d2010590123412345721SER-1" + GS + "10LOT7" + GS + "15260200",
        {"serial": "SER-1", "batch": "LOT7", "best_before": dt.date(2026, 2, 28)},
    ),
    ("]Q30105901234123457112501013712", {"production_date": dt.date(2025, 1, 1), "count": 12}),
    ("]e001059012341234573103000450", {"gtin": "05901234123457"}),
    ("]C100340123450000000000", {"sscc": "340123450000000000", "gtin": None}),
    ("(01)05901234123457(17)991231", {"expiry": dt.date(1999, 12, 31)}),
    ("010590123412345710AB" + GS, {"batch": "AB"}),  # a trailing GS is harmless
]


@pytest.mark.parametrize(("text", "fields"), SAMPLES)
def test_samples(text: str, fields: dict[str, object]) -> None:
    data = gs1.parse(text, current_year=YEAR)
    assert data.raw == text
    for name, value in fields.items():
        got = getattr(data, name)
        if isinstance(value, dt.date):
            got = dt.date(*got)
        assert got == value, name


def test_gtin14_elements_and_get() -> None:
    data = gs1.parse("]C1010590123412345710ABC" + GS + "3103000450", current_year=YEAR)
    assert data.gtin14 == "05901234123457"
    assert [e.ai for e in data.elements] == ["01", "10", "3103"]
    assert data.get("310") == "000450"
    assert data.get("99") is None
    assert gs1.parse("96385074", current_year=YEAR).gtin14 == "00000096385074"


BAD = [
    ("]E05901234123458", "GTIN 5901234123458: wrong check digit"),
    ("5901234123458", "wrong check digit"),
    ("]C1010590123412345810ABC", "AI (01) 05901234123458: wrong check digit"),
    ("]C100340123450000000001", "AI (00) 340123450000000001: wrong check digit"),
    ("]C0ABC-123", "symbology ]C0 carries no GS1 data"),
    ("]Q1https://example.com", "symbology ]Q1 carries no GS1 data"),
    ("]", "AIM symbology identifier ']' is cut short"),
    ("]!0123", "AIM symbology identifier ']!0' is not valid"),
    ("]C130", "AI (30) has no value"),
    ("]C1", "no GS1 data after the symbology identifier"),
    ("]E0ABC", "data 'ABC' is not a GTIN"),
    ("SKU-123", "'SKU-123' is not GS1 data: it does not start with an AI"),
    ("", "is not GS1 data"),
    ("]C1010590123412345717251399", "not a valid GS1 element string"),
    ("]C10105901234123457" + "17250231", "2025-02 has no day 31"),
    ("]C1" + "99", "not a valid GS1 element string"),
]


@pytest.mark.parametrize(("text", "error"), BAD)
def test_bad_input_gives_a_clear_error(text: str, error: str) -> None:
    with pytest.raises(gs1.GS1Error, match=re.escape(error)):
        gs1.parse(text, current_year=YEAR)


def test_error_is_a_remote_protocol_error() -> None:
    assert issubclass(gs1.GS1Error, RemoteProtocolError)


@pytest.mark.parametrize(
    ("yymmdd", "year", "expected"),
    [
        # GS1 General Specifications 7.12: a sliding window around this year.
        ("251231", 2025, dt.date(2025, 12, 31)),
        ("750101", 2025, dt.date(2075, 1, 1)),  # diff 50: this century
        ("760101", 2025, dt.date(1976, 1, 1)),  # diff 51: last century
        ("010101", 2060, dt.date(2101, 1, 1)),  # diff -59: next century
        ("240200", 2025, dt.date(2024, 2, 29)),  # 00: end of month, leap
        ("000229", 2025, dt.date(2000, 2, 29)),
    ],
)
def test_gs1_dates(yymmdd: str, year: int, expected: dt.date) -> None:
    got = gs1.gs1_date(yymmdd, year)
    assert dt.date(*got) == expected
    assert got.isoformat() == expected.isoformat()


@pytest.mark.parametrize(
    ("yymmdd", "error"),
    [("2512", "not six digits"), ("251300", "has month 13"), ("250230", "has no day 30")],
)
def test_bad_gs1_dates(yymmdd: str, error: str) -> None:
    with pytest.raises(gs1.GS1Error, match=error):
        gs1.gs1_date(yymmdd, YEAR)


def test_split_symbology() -> None:
    assert gs1.split_symbology("]C1010") == ("]C1", "010")
    assert gs1.split_symbology("0101") == (None, "0101")


# --- fuzz: any string only ever gives GS1Data or a GS1Error ---------------------------

_prefixes = st.sampled_from(["", "]C1", "]d2", "]E0", "]Q3", "]e0", "]C0", "]", "]E3", "("])
_gs1ish = st.text(alphabet="0123456789" + GS + "()ABC-", max_size=60)


def _check(text: str) -> None:
    try:
        data = gs1.parse(text, current_year=YEAR)
    except gs1.GS1Error as err:
        message = str(err)
        assert message
    else:
        assert data.elements
        if data.gtin is not None:
            assert data.gtin14 is not None and len(data.gtin14) == 14


@settings(max_examples=500, deadline=None)
@given(_prefixes, _gs1ish)
def test_fuzz_gs1_like(prefix: str, body: str) -> None:
    _check(prefix + body)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_any_text(text: str) -> None:
    _check(text)
