"""Money: half-up rounding (Chinese tax rounding, never banker's), bad input refused, and no
float anywhere in the money code (issue 18)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import cloud.finance
from cloud.errors import InvalidError
from cloud.finance.money import half_up, money, split_tax_inclusive, tax_of

D = Decimal


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.005", "0.01"),  # banker's would give 0.00
        ("0.015", "0.02"),
        ("0.025", "0.03"),  # banker's would give 0.02
        ("2.675", "2.68"),  # float(2.675) is 2.67499…: a float round gives 2.67
        ("-0.005", "-0.01"),
        ("1.004", "1.00"),
    ],
)
def test_half_up(value: str, rounded: str) -> None:
    assert half_up(D(value)) == D(rounded)


@pytest.mark.parametrize(
    ("total", "rate", "net", "tax"),
    [
        ("113.00", "0.13", "100.00", "13.00"),
        ("100.00", "0.13", "88.50", "11.50"),  # 88.4955… → 88.50
        ("0.01", "0.13", "0.01", "0.00"),
        ("10.00", "0.06", "9.43", "0.57"),  # 9.4339…
        ("99.99", "0.09", "91.73", "8.26"),  # 91.733…
        ("1.13", "0.13", "1.00", "0.13"),
        ("0.57", "0.13", "0.50", "0.07"),  # 0.50442…
        ("5.65", "0.13", "5.00", "0.65"),
        ("0.17", "0.13", "0.15", "0.02"),  # 0.150442… → 0.15
    ],
)
def test_tax_inclusive_back_calculation(total: str, rate: str, net: str, tax: str) -> None:
    n, t = split_tax_inclusive(D(total), D(rate))
    assert (n, t) == (D(net), D(tax))
    assert n + t == D(total)


@pytest.mark.parametrize(
    ("amount", "rate", "tax"),
    [
        ("100.00", "0.13", "13.00"),
        ("0.50", "0.13", "0.07"),
        ("3.85", "0.13", "0.50"),
        ("0.04", "0.13", "0.01"),
    ],
)
def test_tax_per_line_half_up(amount: str, rate: str, tax: str) -> None:
    # 0.50 x 0.13 = 0.065 → 0.07 half up (banker's: 0.06); 3.85 x 0.13 = 0.5005 → 0.50
    assert tax_of(D(amount), D(rate)) == D(tax)


def test_money_takes_decimals_ints_and_plain_strings() -> None:
    assert money("1234.5") == D("1234.50")
    assert money(D("7")) == D("7.00")
    assert money(3) == D("3.00")
    assert money("-0.01") == D("-0.01")


@pytest.mark.parametrize(
    "bad",
    [
        0.1,
        12.0,
        True,
        "1,234.56",
        "1 234.56",
        "12.345",
        D("12.345"),
        "abc",
        "",
        D("NaN"),
        None,
        "1e3",
        "99999999999999999",
    ],
)
def test_money_refuses_what_is_not_money(bad: object) -> None:
    with pytest.raises(InvalidError):
        money(bad)


# A float call, a float literal (1.5, .5, 1e3, 2.), or the float type in an annotation.
_FLOAT = re.compile(
    r"\bfloat\s*\(|(?<![\w.])\d+\.\d*(?![\w.])|(?<![\w.])\.\d+\b|\b\d+[eE][-+]?\d+\b|:\s*float\b|-> float\b"
)


def _unquoted(line: str) -> str:
    """The line without its comment and string contents: Decimal("0.01") is the right way."""
    return re.sub(r'"[^"]*"', '""', line.split("#", 1)[0])


def _code_lines(path: Path) -> list[tuple[int, str]]:
    out = []
    in_doc = False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        quotes = stripped.count('"""')
        if in_doc or stripped.startswith('"""'):
            if quotes == 1:
                in_doc = not in_doc
            continue
        out.append((n, _unquoted(line)))
    return out


def test_no_float_in_the_money_code() -> None:
    root = Path(cloud.finance.__file__).parent
    found = [
        f"{p.name}:{n}: {code.strip()}"
        for p in sorted(root.glob("*.py"))
        for n, code in _code_lines(p)
        if _FLOAT.search(code) and "isinstance" not in code
    ]
    assert found == []


def test_the_float_check_can_fail() -> None:
    assert _FLOAT.search(_unquoted("x = float(y)"))
    assert _FLOAT.search(_unquoted("rate = 0.13"))
    assert _FLOAT.search(_unquoted("def f(a: float) -> None:"))
    assert not _FLOAT.search(_unquoted('rate = Decimal("0.13")  # not 0.13'))
