"""Supplier payables (cloud/finance/payables.py), statements (statements.py), order money
(order_money.py) and period close (closing.py), on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.finance import FinCursor, FinEntry, FinPeriod
from cloud.db.models import Supplier
from cloud.db.payables import FinSupplierDoc
from cloud.errors import ConflictError, InvalidError, NotFoundError
from cloud.finance import closing, events, ledger, payables, statements
from cloud.finance.payables import SupplierDocIn
from cloud.finance.postings import SupplierReceipt
from tests.cloud.finance.conftest import NOW, SELLER

D = Decimal
DAY = date(2026, 11, 3)


def _supplier(factory: sessionmaker[Session], code: str = "SUP1") -> None:
    with transaction(factory) as s:
        s.add(
            Supplier(account_id=SELLER, code=code, name="深圳壳厂", changed_by="t", changed_at=NOW)
        )


def _doc(no: str, kind: str, amount: object, on: date = DAY, **kw: object) -> SupplierDocIn:
    paid_from = kw.pop("paid_from", None if kind == "apply" else "1002")
    return SupplierDocIn(no, str(kw.pop("supplier", "SUP1")), kind, amount, on, paid_from)  # type: ignore[arg-type]


def _receive(s: Session, no: str, value: str, on: date = DAY, supplier: str = "SUP1") -> None:
    events.record(s, SELLER, SupplierReceipt(no, supplier, "SKU1", D(1), D(value), on), NOW)


def _counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with transaction(factory) as s:
        return (
            s.execute(select(func.count()).select_from(FinEntry)).scalar_one(),
            s.execute(select(func.count()).select_from(FinSupplierDoc)).scalar_one(),
        )


def test_payment_prepayment_refund_apply_and_balances(books: sessionmaker[Session]) -> None:
    _supplier(books)
    with transaction(books) as s:
        _receive(s, "R1", "1000.00")
        payables.record(s, SELLER, _doc("P1", "payment", "300.00"), "t", NOW)
        payables.record(
            s, SELLER, _doc("PP1", "prepayment", "500.00", paid_from="1012.01"), "t", NOW
        )
        payables.record(s, SELLER, _doc("A1", "apply", "200.00"), "t", NOW)
        payables.record(s, SELLER, _doc("RF1", "refund", "50.00"), "t", NOW)
        assert payables.payable_balance(s, SELLER, "SUP1") == D("550.00")  # 1000-300-200+50
        assert payables.prepaid_balance(s, SELLER, "SUP1") == D("300.00")
        with pytest.raises(ConflictError, match=r"has 300\.00 prepaid: cannot apply 300\.01"):
            payables.record(s, SELLER, _doc("A2", "apply", "300.01"), "t", NOW)
        balances = {r.code: r.balance for r in ledger.trial_balance(s, SELLER)}
        assert balances["1002"] == D("-250.00") and balances["1012.01"] == D("-500.00")
        assert sum(balances.values()) == 0


def test_a_retried_payment_posts_once_and_other_content_is_a_conflict(
    books: sessionmaker[Session],
) -> None:
    _supplier(books)
    for _ in range(3):
        with transaction(books) as s:
            out = payables.record(s, SELLER, _doc("P1", "payment", "300.00"), "t", NOW)
    assert not out.created
    assert _counts(books) == (1, 1)
    with transaction(books) as s, pytest.raises(ConflictError, match="exists already"):
        payables.record(s, SELLER, _doc("P1", "payment", "300.01"), "t", NOW)
    assert _counts(books) == (1, 1)


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (1.5, "not a float"),
        ("1,000.00", "no commas"),
        ("10.001", "no commas, spaces or more than two decimals"),
        ("-5.00", "more than 0.00"),
        ("0", "more than 0.00"),
        ("abc", "is not an amount"),
    ],
)
def test_bad_amounts_are_refused_and_nothing_is_stored(
    books: sessionmaker[Session], amount: object, said: str
) -> None:
    _supplier(books)
    with transaction(books) as s, pytest.raises(InvalidError, match=said):
        payables.record(s, SELLER, _doc("P1", "payment", amount), "t", NOW)
    assert _counts(books) == (0, 0)


def test_unknown_supplier_and_bad_accounts_are_refused(books: sessionmaker[Session]) -> None:
    _supplier(books)
    cases = [
        (_doc("P1", "payment", "1.00", supplier="NOPE"), "no supplier NOPE"),
        (_doc("P1", "payment", "1.00", paid_from="6001"), "paid_from must be one of"),
        (_doc("P1", "apply", "1.00", paid_from="1002"), "leave paid_from out"),
        (_doc("P1", "bribe", "1.00"), "kind must be one of"),
        (_doc(" P1", "payment", "1.00"), "a document number"),
    ]
    for doc, said in cases:
        with transaction(books) as s, pytest.raises(InvalidError, match=said):
            payables.record(s, SELLER, doc, "t", NOW)
    assert _counts(books) == (0, 0)


def test_supplier_statement_lines_and_balances(books: sessionmaker[Session]) -> None:
    _supplier(books)
    with transaction(books) as s:
        _receive(s, "R0", "100.00", date(2026, 10, 30))
        _receive(s, "R1", "1000.00", date(2026, 11, 2))
        payables.record(s, SELLER, _doc("P1", "payment", "300.00", date(2026, 11, 5)), "t", NOW)
        payables.record(s, SELLER, _doc("PP", "prepayment", "40.00", date(2026, 11, 6)), "t", NOW)
        payables.record(s, SELLER, _doc("A1", "apply", "40.00", date(2026, 11, 7)), "t", NOW)
        _receive(s, "R2", "5.00", date(2026, 12, 1))
        st_ = statements.supplier_statement(
            s, SELLER, "SUP1", date(2026, 11, 1), date(2026, 11, 30)
        )
    assert st_.name == "深圳壳厂" and st_.opening == D("100.00")
    assert [(ln.source_doc, ln.change, ln.balance) for ln in st_.lines] == [
        ("R1", D("1000.00"), D("1100.00")),
        ("sp:P1", D("-300.00"), D("800.00")),
        ("sp:PP", D("-40.00"), D("760.00")),
        ("sp:A1", D("0.00"), D("760.00")),
    ]
    assert st_.closing == D("760.00")
    assert (st_.increases, st_.decreases) == (D("1000.00"), D("340.00"))
    with transaction(books) as s:
        with pytest.raises(NotFoundError):
            statements.supplier_statement(s, SELLER, "NOPE", DAY, DAY)
        with pytest.raises(InvalidError, match="ends"):
            statements.supplier_statement(s, SELLER, "SUP1", DAY, DAY - timedelta(days=1))


def test_statement_chain_closing_is_the_next_opening(books: sessionmaker[Session]) -> None:
    """Random documents on random days; any cut of a range into two statements: the first's
    closing is the second's opening, and the closing equals the last running balance."""
    _supplier(books)
    base = date(2026, 1, 1)
    seen: set[str] = set()

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        docs=st.lists(
            st.tuples(
                st.integers(0, 120),
                st.sampled_from(["receipt", "payment", "prepayment", "refund"]),
                st.integers(1, 99999),
            ),
            max_size=6,
        ),
        cuts=st.lists(st.integers(0, 150), min_size=3, max_size=3).map(sorted),
    )
    def chain(docs: list[tuple[int, str, int]], cuts: list[int]) -> None:
        with transaction(books) as s:
            for day, kind, cents in docs:
                no = f"H{len(seen)}"
                seen.add(no)
                amount = str(D(cents) / 100)
                on = base + timedelta(days=day)
                if kind == "receipt":
                    _receive(s, no, amount, on)
                else:
                    payables.record(s, SELLER, _doc(no, kind, amount, on), "t", NOW)
        a, b, c = (base + timedelta(days=x) for x in cuts)
        with transaction(books) as s:
            first = statements.supplier_statement(s, SELLER, "SUP1", a, b)
            second = statements.supplier_statement(
                s, SELLER, "SUP1", b + timedelta(days=1), c + timedelta(days=1)
            )
            whole = statements.supplier_statement(s, SELLER, "SUP1", a, c + timedelta(days=1))
            owed = payables.payable_balance(s, SELLER, "SUP1") - payables.prepaid_balance(
                s, SELLER, "SUP1"
            )
            everything = statements.supplier_statement(
                s, SELLER, "SUP1", base, base + timedelta(days=365)
            )
        assert first.closing == second.opening
        assert whole.opening == first.opening and whole.closing == second.closing
        assert whole.lines == first.lines + second.lines
        for stmt in (first, second):
            assert stmt.closing == stmt.opening + sum((ln.change for ln in stmt.lines), D(0))
            if stmt.lines:
                assert stmt.lines[-1].balance == stmt.closing
        assert everything.opening == 0 and everything.closing == owed

    chain()


def test_close_refuses_until_the_month_may_close(books: sessionmaker[Session]) -> None:
    _supplier(books)
    with transaction(books) as s:
        _receive(s, "R1", "10.00", date(2026, 10, 5))
        _receive(s, "R2", "10.00", date(2026, 11, 5))
    now = NOW  # 2026-12-06
    with transaction(books) as s:
        with pytest.raises(ConflictError, match="has not ended yet"):
            closing.close(s, SELLER, "2026-12", "t", now)
        with pytest.raises(ConflictError, match="2026-10 is still open: close the months in order"):
            closing.close(s, SELLER, "2026-11", "t", now)
        with pytest.raises(InvalidError, match="is not a month"):
            closing.close(s, SELLER, "2026-13", "t", now)
    with transaction(books) as s:
        closing.close(s, SELLER, "2026-10", "t", now)
    with transaction(books) as s:
        s.add(
            FinCursor(
                account_id=SELLER,
                stream="orders",
                position=0,
                posted=0,
                error="orders #7: refused",
                changed_at=now,
            )
        )
    with (
        transaction(books) as s,
        pytest.raises(ConflictError, match="stream orders stopped: orders #7"),
    ):
        closing.close(s, SELLER, "2026-11", "t", now)
    with transaction(books) as s:
        s.get_one(FinCursor, (SELLER, "orders")).error = None
    with transaction(books) as s:
        closing.close(s, SELLER, "2026-11", "t", now)
        with pytest.raises(ConflictError, match="closed already"):
            closing.close(s, SELLER, "2026-11", "t", now)
    with transaction(books) as s:
        assert [m.period for m in closing.months(s, SELLER, now) if m.closed] == [
            "2026-11",
            "2026-10",
        ]
        assert s.execute(select(func.count()).select_from(FinPeriod)).scalar_one() == 2
        # The books refuse a payment into a closed month: nothing stored.
        with pytest.raises(ConflictError, match="is closed"):
            payables.record(s, SELLER, _doc("P1", "payment", "1.00", date(2026, 11, 30)), "t", now)
    assert _counts(books) == (2, 0)


def test_close_refuses_a_month_with_facts_the_poster_has_not_posted(
    books: sessionmaker[Session],
) -> None:
    from cloud.db.models import PurchaseOrder, PurchaseReceipt, Warehouse

    _supplier(books)
    at = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    with transaction(books) as s:
        wh = Warehouse(account_id=SELLER, code="WHX", name="x", changed_by="t", changed_at=at)
        s.add(wh)
        s.flush()
        po = PurchaseOrder(
            account_id=SELLER,
            number="PO-X",
            warehouse_id=wh.id,
            status="confirmed",
            created_by="t",
            created_at=at,
            changed_by="t",
            changed_at=at,
        )
        s.add(po)
        s.flush()
        s.add(
            PurchaseReceipt(
                account_id=SELLER,
                receipt_id="RX",
                po_id=po.id,
                source="api",
                lines=[],
                movement_ids=[],
                actor="t",
                created_at=at,
            )
        )
    with (
        transaction(books) as s,
        pytest.raises(ConflictError, match="1 facts of stream receipts before the end of 2026-11"),
    ):
        closing.close(s, SELLER, "2026-11", "t", NOW)
    with transaction(books) as s:
        rid = s.execute(select(PurchaseReceipt.id)).scalar_one()
        s.add(
            FinCursor(account_id=SELLER, stream="receipts", position=rid, posted=1, changed_at=NOW)
        )
    with transaction(books) as s:
        closing.close(s, SELLER, "2026-11", "t", NOW)


def test_cli_close(books: sessionmaker[Session], db_url: str) -> None:
    from typer.testing import CliRunner

    from cloud.finance.cli import finance_app

    _supplier(books)
    with transaction(books) as s:
        _receive(s, "R1", "10.00", date(2026, 10, 5))
    args = ["close", "--account", "default", "--database-url", db_url, "--period"]
    run = CliRunner().invoke(finance_app, [*args, "2026-11"])
    assert run.exit_code == 1 and "2026-10 is still open" in run.output
    run = CliRunner().invoke(finance_app, [*args, "2026-10"])
    assert run.exit_code == 0 and "closed 2026-10" in run.output
    run = CliRunner().invoke(finance_app, [*args, "2026-10"])
    assert run.exit_code == 1 and "closed already" in run.output


def test_a_supplier_invoice_posts_its_input_vat_once(books: sessionmaker[Session]) -> None:
    _supplier(books)
    inv = SupplierDocIn("INV-1", "SUP1", "invoice", "1000.05", DAY, None, "", "0.13")
    with transaction(books) as s:
        _receive(s, "R1", "1000.05")
        out = payables.record(s, SELLER, inv, "t", NOW)
        assert (out.doc.tax, out.doc.amount) == (D("130.01"), D("1000.05"))  # 130.0065 half up
    with transaction(books) as s:
        assert not payables.record(s, SELLER, inv, "t", NOW).created
        balances = {r.code: r.balance for r in ledger.trial_balance(s, SELLER)}
        assert balances["22210102"] == D("130.01")
        assert payables.payable_balance(s, SELLER, "SUP1") == D("1130.06")
        st_ = statements.supplier_statement(s, SELLER, "SUP1", DAY, DAY)
        assert [(ln.source_doc, ln.change) for ln in st_.lines] == [
            ("R1", D("1000.05")),
            ("sp:INV-1", D("130.01")),
        ]
    bad = [
        (SupplierDocIn("INV-2", "SUP1", "invoice", "100.00", DAY, None, "", "0.17"), "one of 0.13"),
        (
            SupplierDocIn("INV-2", "SUP1", "invoice", "100.00", DAY, None, "", 0.13),
            "decimal string",
        ),
        (SupplierDocIn("INV-2", "SUP1", "invoice", "100.00", DAY, None, "", None), "one of 0.13"),
        (SupplierDocIn("INV-2", "SUP1", "invoice", "0.10", DAY, None, "", "0.01"), "is 0.00"),
        (SupplierDocIn("INV-2", "SUP1", "invoice", "1.00", DAY, "1002", "", "0.13"), "paid_from"),
        (
            SupplierDocIn("P-2", "SUP1", "payment", "1.00", DAY, "1002", "", "0.13"),
            "only an invoice",
        ),
    ]
    for doc, said in bad:
        with transaction(books) as s, pytest.raises(InvalidError, match=said):
            payables.record(s, SELLER, doc, "t", NOW)
    assert _counts(books) == (2, 1)
