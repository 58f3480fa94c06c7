"""Rules compare an order's total as money: Decimal yuan from the stored cents, the rule's
number read from its text, never a binary float (the guide: money is Decimal)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cloud.orders.audit_rules import Condition, Facts, holds, order_total


def facts(total_cents: int) -> Facts:
    return Facts(
        total=order_total(total_cents),
        recipient={},
        day=date(2026, 11, 11),
        weight_g=100,
        channel="manual",
        buyer_carrier=None,
        seller_carrier=None,
        skus=[],
    )


def test_the_total_is_decimal_yuan_with_its_cents() -> None:
    assert order_total(129900) == Decimal("1299.00") and isinstance(order_total(1), Decimal)
    assert str(order_total(11800)) == "118.00"


@pytest.mark.parametrize(
    ("cents", "op", "value", "held"),
    [
        (99999, "gte", 999.99, True),  # exactly the threshold
        (99998, "gte", 999.99, False),
        (99999, "lt", "999.995", True),  # a rule written with three decimals
        (1, "eq", 0.01, True),
        (30, "eq", "0.30", True),
        (12345678901, "gt", 123456789.0, True),
    ],
)
def test_thresholds_compare_as_money(cents: int, op: str, value: object, held: bool) -> None:
    ok, _ = holds(Condition(field="total", op=op, value=value), facts(cents))  # type: ignore[arg-type]
    assert ok is held


def test_the_reason_shows_yuan_with_two_decimals() -> None:
    ok, said = holds(Condition(field="total", op="gte", value=999), facts(129900))
    assert ok and said["params"]["value"] == "1299.00" and said["params"]["want"] == "999"
