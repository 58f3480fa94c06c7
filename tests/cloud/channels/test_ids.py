"""Marketplace ids and counts are read strictly: ASCII digits, at most 20 (issue 19's fuzzing)."""

from __future__ import annotations

import pytest

from cloud.channels.ids import digits
from cloud.channels.ports import ChannelError
from cloud.channels.shopify.orders import order_id
from cloud.channels.taobao.orders import _tid
from cloud.channels.taobao.stock import _int


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (3900000000005000001, "3900000000005000001"),
        ("18446744073709551615", "18446744073709551615"),  # 2^64 - 1
        ("0", "0"),
        ("9" * 21, None),  # beyond 64 bits and our 64-character columns (after 300 digits)
        ("²", None),  # str.isdigit() takes it; int() refuses it
        ("１２", None),  # fullwidth digits: isdigit() and int() take them, TOP never sends them
        ("-1", None),
        ("1.0", None),
        ("", None),
        (" 12", None),
        (True, None),
        (1.5, None),
        (None, None),
        ([1], None),
    ],
)
def test_digits(value: object, read: str | None) -> None:
    assert digits(value) == read


def test_the_adapters_refuse_what_is_not_an_id_with_a_sentence() -> None:
    # Each was a crash under `make fuzz`: the order model's ValidationError (300 digits) or
    # int()'s bare ValueError ("²").
    with pytest.raises(ChannelError, match="usable id"):
        order_id({"id": "9" * 300})
    with pytest.raises(ChannelError, match="usable tid"):
        _tid({"tid": "²"})
    with pytest.raises(ChannelError, match="not a whole number"):
        _int("²", "quantity")
    assert _int("12", "quantity") == 12
