"""``guanjia finance trial-balance`` and ``export-ledger`` (beancount syntax, our own code)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cloud.db.engine import transaction
from cloud.finance.cli import finance_app
from cloud.finance.events import record
from cloud.finance.export import account_name
from cloud.finance.postings import Line, OrderPaid, OrderShipped, SupplierReceipt

from .conftest import NOW, SELLER

D = Decimal


def _books(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        record(
            s, SELLER, SupplierReceipt("GR1", "acme", "A", D(2), D("30.00"), date(2026, 11, 2)), NOW
        )
        record(s, SELLER, OrderPaid("T1", "tmall", D("113.00"), date(2026, 12, 1)), NOW)
        record(
            s,
            SELLER,
            OrderShipped("T1", "tmall", D("113.00"), (Line("A", D(1)),), date(2026, 12, 2)),
            NOW,
        )


def test_trial_balance(books: sessionmaker[Session], db_url: str) -> None:
    _books(books)
    run = CliRunner().invoke(
        finance_app, ["trial-balance", "--account", "default", "--database-url", db_url]
    )
    assert run.exit_code == 0, run.output
    lines = {line.split()[0]: line for line in run.output.splitlines()}
    assert "100.00" in lines["6001"] and "13.00" in lines["22210101"]
    assert lines["total"].split()[1:] == ["173.00", "173.00"]
    nov = CliRunner().invoke(
        finance_app,
        ["trial-balance", "--account", "default", "--period", "2026-11", "--database-url", db_url],
    )
    assert nov.exit_code == 0
    assert "6001" not in nov.output and "60.00" in nov.output
    bad = CliRunner().invoke(
        finance_app, ["trial-balance", "--account", "nobody", "--database-url", db_url]
    )
    assert bad.exit_code == 1 and "no seller account nobody" in bad.output


def test_export_ledger_in_beancount_syntax(books: sessionmaker[Session], db_url: str) -> None:
    _books(books)
    run = CliRunner().invoke(
        finance_app, ["export-ledger", "--account", "default", "--database-url", db_url]
    )
    assert run.exit_code == 0, run.output
    text = run.output
    assert "2000-01-01 open Assets:1122:Tmall CNY" in text
    assert '2026-12-02 * "T1" "shipped"' in text
    assert "  Income:6001  -100.00 CNY" in text
    # Every posting line: an account of the five roots, an amount with two decimals, CNY.
    postings = [line for line in text.splitlines() if re.match(r"  [A-Z]", line)]
    assert len(postings) == 2 + 2 + 5
    for line in postings:
        assert re.fullmatch(
            r"  (Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+  -?\d+\.\d\d CNY",
            line,
        )
    # Each transaction balances (beancount would refuse the file otherwise).
    for block in text.split("\n\n"):
        amounts = [D(m) for m in re.findall(r"  (-?\d+\.\d\d) CNY", block)]
        assert sum(amounts, D(0)) == 0


def test_account_names() -> None:
    assert account_name("asset", "1122.tmall") == "Assets:1122:Tmall"
    assert account_name("liability", "2202.01.acme_co") == "Liabilities:2202:01:Acme-co"
