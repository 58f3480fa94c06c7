"""The privacy waybill (隐私面单): what a printed label may show (GB/T 41833-2022)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.devices import zpl
from protocol.devices.waybill_privacy import mask_address, mask_name, mask_phone


@pytest.mark.parametrize(
    ("name", "printed"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("王", "*"), (" 李四 ", "李*"), ("", "")],
)
def test_names_hide_at_least_one_character(name: str, printed: str) -> None:
    assert mask_name(name) == printed


@pytest.mark.parametrize(
    ("phone", "printed"),
    [
        ("13800138000", "*******8000"),  # a mobile: the last four, seven hidden
        ("+86 138 0013 8000", "+** *** **** 8000"),
        ("0731-8888666", "****-***8666"),  # a landline with its area code
        ("88886666", "******66"),  # eight digits: six hidden, two shown
        ("123456", "******"),  # six or fewer: all hidden
        ("", ""),
        ("无", "无"),
    ],
)
def test_phones_hide_at_least_six_digits(phone: str, printed: str) -> None:
    assert mask_phone(phone) == printed


@given(st.text(alphabet="0123456789 -+", max_size=30))
def test_no_phone_shows_more_than_four_digits_or_hides_fewer_than_six(phone: str) -> None:
    out = mask_phone(phone)
    assert len(out) == len(phone)
    n = sum(ch.isdigit() for ch in phone)
    shown = sum(ch.isdigit() for ch in out)
    assert shown <= 4 and n - shown >= min(n, 6)


@pytest.mark.parametrize(
    ("address", "printed"),
    [
        ("幸福里3栋2单元501室", "幸福里3栋2单元****"),
        ("科技园南路88号A座1203", "科技园南路88号A座****"),
        ("天河路8号501室", "天河路8号****"),
        ("麓山南路2号", "麓山南路2号"),  # a street number only: nothing to hide
        ("科技园南路 88 号\n3 栋", "科技园南路 88 号\n3 栋"),  # the building, no room
    ],
)
def test_addresses_hide_the_unit_and_room(address: str, printed: str) -> None:
    assert mask_address(address) == printed


def test_the_label_prints_the_masked_recipient_and_the_order_keeps_it_whole() -> None:
    label = zpl.ShippingLabel(
        waybill="SF1234567890123",
        carrier="SF",
        order_id="JY1",
        weight_g=100,
        recipient_name="张三",
        recipient_phone="13800000001",
        province="湖南省",
        city="长沙市",
        district="岳麓区",
        address="麓谷小区5栋1单元302室",
    )
    wire = zpl.build_label(label)
    (fmt,) = [c for c in zpl.decode_all(wire) if isinstance(c, zpl.LabelFormat)]
    texts = zpl.interpret(fmt).texts()
    assert "收 张*  *******0001" in texts
    assert "麓谷小区5栋1单元****" in texts
    assert b"13800000001" not in wire and b"302" not in wire
    assert label.recipient_phone == "13800000001"  # the record itself is not changed
