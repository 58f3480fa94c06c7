"""Item labels: one ZPL format a printer (and our simulator's parser) reads back as written."""

from __future__ import annotations

import pytest

from protocol.devices import zpl
from protocol.devices.zpl_item import ItemLabel, build_item_label, code128_safe


def _layout(job: bytes) -> zpl.LabelLayout:
    dec = zpl.ZplStreamDecoder()
    dec.feed(job)
    fmt = dec.next_message()
    assert isinstance(fmt, zpl.LabelFormat)
    assert dec.next_message() is zpl.NEED_DATA  # exactly one format
    return zpl.interpret(fmt)


def test_a_serial_label_carries_the_code_and_the_serial_as_code_128() -> None:
    label = ItemLabel(
        "MKING-CASE-GOLD", "金甲系列皮套 金色 ^~_", "6900000000042", "wh1-rcv-1-S0000007"
    )
    got = _layout(build_item_label(label))
    assert got.barcodes() == ["6900000000042", "wh1-rcv-1-S0000007"]
    assert got.texts()[:2] == ["MKING-CASE-GOLD", "金甲系列皮套 金色 ^~_"]
    assert got.quantity == 1


@pytest.mark.parametrize("bad", ["金色", "A>B", "A^B", "A~B", "", "x" * 49, "A\x01"])
def test_what_code_128_cannot_carry_is_refused(bad: str) -> None:
    assert not code128_safe(bad)
    with pytest.raises(ValueError, match="Code 128"):
        ItemLabel("SKU", "name", bad)
    with pytest.raises(ValueError, match="Code 128"):
        ItemLabel("SKU", "name", "SKU", serial=bad)
