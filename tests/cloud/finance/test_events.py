"""Business events posted once each, at moving-average cost; reversals; the trial balance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.finance import FinEntry, FinItemCost
from cloud.errors import InvalidError
from cloud.finance import ledger, postings
from cloud.finance.events import record
from cloud.finance.ledger import Draft, Leg
from cloud.finance.postings import (
    Line,
    OrderPaid,
    OrderShipped,
    RefundAfterShipping,
    RefundBeforeShipping,
    SupplierPayment,
    SupplierReceipt,
)

from .conftest import NOW, SELLER

D = Decimal
DAY = date(2026, 12, 1)


def _balances(factory: sessionmaker[Session]) -> dict[str, Decimal]:
    with transaction(factory) as s:
        return {r.code: r.balance for r in ledger.trial_balance(s, SELLER) if r.balance != 0}


def _entries(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as s:
        return int(s.execute(select(func.count()).select_from(FinEntry)).scalar_one())


def test_pure_postings_balance_and_split_vat() -> None:
    d = postings.order_shipped(
        OrderShipped("T1", "tmall", D("100.00"), (Line("A", D(1)),), DAY), D("40.00")
    )
    legs = {leg.code: leg.amount for leg in d.legs}
    assert legs == {
        "2203": D("100.00"),
        "6001": D("-88.50"),
        "22210101": D("-11.50"),
        "6401": D("40.00"),
        "1405": D("-40.00"),
    }
    assert sum(legs.values()) == 0
    paid = postings.order_paid(OrderPaid("T1", "tmall", D("100.00"), DAY))
    assert [(leg.code, leg.amount) for leg in paid.legs] == [
        ("1122.tmall", D("100.00")),
        ("2203", D("-100.00")),
    ]


def test_the_life_of_an_order(books: sessionmaker[Session]) -> None:
    events: list[postings.Event] = [
        SupplierReceipt("GR1", "acme", "A", D(3), D("10.00"), DAY),
        SupplierReceipt("GR2", "acme", "A", D(1), D("11.00"), DAY),  # average 10.25
        OrderPaid("T1", "tmall", D("113.00"), DAY),
        OrderShipped("T1", "tmall", D("113.00"), (Line("A", D(2)),), DAY),
        OrderPaid("T2", "tmall", D("50.00"), DAY),
        RefundBeforeShipping("T2", "tmall", D("50.00"), DAY),
        SupplierPayment("PAY1", "acme", D("41.00"), DAY),
    ]
    with transaction(books) as s:
        for e in events:
            assert record(s, SELLER, e, NOW).created
    assert _balances(books) == {
        "1122.tmall": D("113.00"),
        "1405": D("20.50"),  # 41.00 received - 20.50 shipped
        "1002": D("-41.00"),
        "6001": D("-100.00"),
        "22210101": D("-13.00"),
        "6401": D("20.50"),
    }
    # Returned after shipping: revenue and VAT back, goods back at the cost booked.
    with transaction(books) as s:
        record(
            s,
            SELLER,
            RefundAfterShipping("T1", "tmall", D("113.00"), True, DAY, (Line("A", D(2)),)),
            NOW,
        )
        cost = s.get_one(FinItemCost, (SELLER, "A"))
        assert (cost.quantity, cost.value) == (D(4), D("41.00"))
    assert _balances(books) == {"1405": D("41.00"), "1002": D("-41.00")}


def test_last_units_take_the_whole_value(books: sessionmaker[Session]) -> None:
    with transaction(books) as s:
        record(s, SELLER, SupplierReceipt("GR1", "acme", "A", D(3), D("10.00"), DAY), NOW)
        record(s, SELLER, SupplierReceipt("GR2", "acme", "A", D(3), D("0.01"), DAY), NOW)
        for n in range(1, 4):
            record(s, SELLER, OrderPaid(f"T{n}", "jd", D("9.00"), DAY), NOW)
            record(s, SELLER, OrderShipped(f"T{n}", "jd", D("9.00"), (Line("A", D(2)),), DAY), NOW)
        cost = s.get_one(FinItemCost, (SELLER, "A"))
        assert (cost.quantity, cost.value) == (D(0), D("0.00"))  # no 0.01 residue
    assert "1405" not in _balances(books)


def test_replayed_event_posts_once(books: sessionmaker[Session]) -> None:
    receipt = SupplierReceipt("GR1", "acme", "A", D(5), D("2.00"), DAY)
    for _ in range(3):
        with transaction(books) as s:
            record(s, SELLER, receipt, NOW)
    with transaction(books) as s:
        cost = s.get_one(FinItemCost, (SELLER, "A"))
        assert (cost.quantity, cost.value) == (D(5), D("10.00"))
    assert _entries(books) == 1


def test_bad_input_changes_nothing(books: sessionmaker[Session]) -> None:
    bad: list[postings.Event] = [
        OrderPaid("T1", "tmall", 12.5, DAY),  # type: ignore[arg-type]
        OrderPaid("T1", "tmall", "1,234.00", DAY),  # type: ignore[arg-type]
        OrderPaid("T1", "tmall", D("10.005"), DAY),
        OrderPaid("T1", "tmall", D("-1.00"), DAY),
        OrderPaid("T1", "tm all", D("1.00"), DAY),
        SupplierReceipt("GR1", "acme", "A", D(-2), D("1.00"), DAY),
        OrderShipped("T9", "tmall", D("10.00"), (Line("NOPE", D(1)),), DAY),  # no cost known
    ]
    for event in bad:
        with pytest.raises(InvalidError), transaction(books) as s:
            record(s, SELLER, event, NOW)
    assert _entries(books) == 0
    with pytest.raises(InvalidError, match=r"sum to 0\.01 CNY"), transaction(books) as s:
        ledger.post(
            s,
            SELLER,
            Draft("X", "manual", DAY, (Leg("1002", D("1.00")), Leg("4001", D("-0.99")))),
            NOW,
        )
    with pytest.raises(InvalidError, match="no account 9999"), transaction(books) as s:
        ledger.post(
            s,
            SELLER,
            Draft("X", "manual", DAY, (Leg("1002", D("1.00")), Leg("9999", D("-1.00")))),
            NOW,
        )
    with pytest.raises(InvalidError, match="keeps CNY, not USD"), transaction(books) as s:
        ledger.post(
            s,
            SELLER,
            Draft(
                "X", "manual", DAY, (Leg("1002", D("1.00"), "USD"), Leg("4001", D("-1.00"), "USD"))
            ),
            NOW,
        )
    assert _entries(books) == 0


def test_a_reversal_undoes_an_entry_once(books: sessionmaker[Session]) -> None:
    with transaction(books) as s:
        p = record(s, SELLER, OrderPaid("T1", "tmall", D("20.00"), DAY), NOW)
    for _ in range(2):
        with transaction(books) as s:
            r = ledger.reverse(s, SELLER, p.entry_id, date(2026, 12, 2), NOW)
    assert _balances(books) == {}
    assert _entries(books) == 2
    with transaction(books) as s:
        assert s.get_one(FinEntry, r.entry_id).reverses_id == p.entry_id


def test_trial_balance_per_period_and_per_seller(books: sessionmaker[Session]) -> None:
    with transaction(books) as s:
        record(s, SELLER, OrderPaid("T1", "tmall", D("20.00"), date(2026, 11, 30)), NOW)
        record(s, SELLER, OrderPaid("T2", "tmall", D("5.00"), date(2026, 12, 1)), NOW)
        other = s.execute(
            text("INSERT INTO account (name, created_at) VALUES ('other', :t) RETURNING id"),
            {"t": NOW},
        ).scalar_one()
        from cloud.finance.chart import seed_chart

        seed_chart(s, other)
        record(s, other, OrderPaid("T1", "tmall", D("7.00"), date(2026, 12, 1)), NOW)
        nov = {r.code: r.balance for r in ledger.trial_balance(s, SELLER, "2026-11")}
        dec = {r.code: r.balance for r in ledger.trial_balance(s, SELLER, "2026-12")}
        assert ledger.replayed_balances(s, SELLER) == dec
    assert nov == {"1122.tmall": D("20.00"), "2203": D("-20.00")}
    assert dec == {"1122.tmall": D("25.00"), "2203": D("-25.00")}
