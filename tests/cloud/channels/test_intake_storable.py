"""The intake's payload cleaning has a fast path (one orjson pass says the payload needs no
change) beside the value-by-value one: both must store the same JSON, for every payload."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.channels.intake import CONTROL, _cleaned, _rebuilt, _storable, clean

TRADE = {
    "tid": 4_000_000_000_000_001,
    "buyer_nick": "买家🐼",
    "orders": {"order": [{"oid": 9_007_199_254_740_993, "num": 1, "price": "1,299.00"}]},
}


@pytest.mark.parametrize(
    ("payload", "stored"),
    [
        ({"buyer_nick": "a\x00b"}, {"buyer_nick": "ab"}),
        ({"buyer_message": "x\x08y"}, {"buyer_message": "xy"}),
        ({"buyer_message": "y\x0cz"}, {"buyer_message": "yz"}),
        ({"buyer_nick": "a\x7fb"}, {"buyer_nick": "ab"}),
        ({"seller_memo": "tab\tand\nnewline\r"}, {"seller_memo": "tab\tand\nnewline\r"}),
        ({"lines": [{"n": "\x1f"}]}, {"lines": [{"n": ""}]}),
        ({"tid": 2**53}, {"tid": str(2**53)}),
        ({"tid": -(2**53)}, {"tid": str(-(2**53))}),
        ({"tid": 2**53 - 1}, {"tid": 2**53 - 1}),
        ({"big": 2**70}, {"big": str(2**70)}),  # beyond orjson's 64 bits: the slow path
        ({"ok": "路径\\b 反斜杠"}, {"ok": "路径\\b 反斜杠"}),  # looks escaped, is not
        (
            TRADE,
            {
                "tid": 4_000_000_000_000_001,  # below 2**53: a number still
                "buyer_nick": "买家🐼",
                "orders": {"order": [{"oid": "9007199254740993", "num": 1, "price": "1,299.00"}]},
            },
        ),
    ],
)
def test_stored_as_the_slow_path_stores_it(payload: dict[str, Any], stored: Any) -> None:
    assert _storable(payload) == stored == _cleaned(payload)


def test_a_clean_payload_is_kept_as_it_is() -> None:
    payload = {"buyer_nick": "买家🐼", "orders": {"order": [{"oid": 1, "price": "9.90"}]}}
    assert _storable(payload) is payload


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
)
_json = st.recursive(_leaf, lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=10)


@settings(max_examples=100, deadline=None)
@given(_json)
def test_fast_path_agrees_with_the_slow_one(value: Any) -> None:
    assert _storable(value) == _cleaned(value)
    # The rebuild (every Taobao trade: its ids are beyond 2**53) stores what the reference
    # walk stores, types included (a tid as text, never a float).
    rebuilt = _rebuilt(value)
    assert rebuilt == _cleaned(value)
    assert repr(rebuilt) == repr(_cleaned(value))


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_clean_drops_control_characters_only(text: str) -> None:
    assert clean(text) == CONTROL.sub("", text).strip()[:2000]
