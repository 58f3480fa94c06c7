"""The chart of accounts of an online seller, seeded per seller account.

Chinese numbering (企业会计准则 account codes) where it exists; research/finance-einvoice.md
lists it and marks it unverified against a standard. Accounts kept per party are children
of a parent: ``1122.<shop>`` platform clearing per shop, ``2202.01.<supplier>`` and
``2202.02.<courier>`` payables; they are opened the first time an event names the party.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.engine import dialect_of
from cloud.db.finance import FinAccount
from cloud.errors import N_, InvalidError
from cloud.finance.upsert import insert_for

CURRENCY = "CNY"

#: (code, name, type)
CHART: tuple[tuple[str, str, str], ...] = (
    ("1002", "银行存款 Bank", "asset"),
    ("1012.01", "其他货币资金-支付宝 Alipay balance", "asset"),
    ("1012.02", "其他货币资金-微信 WeChat Pay balance", "asset"),
    ("1122", "应收账款-平台待结算 Platform clearing", "asset"),
    ("1123", "预付账款 Supplier prepayments", "asset"),
    ("1405", "库存商品 Inventory", "asset"),
    ("1901", "待处理财产损溢 Suspense", "asset"),
    ("2202", "应付账款 Payables", "liability"),
    ("2202.01", "应付账款-供应商 Payables to suppliers", "liability"),
    ("2202.02", "应付账款-快递 Payables to couriers", "liability"),
    ("2203", "预收账款 Customer prepayments", "liability"),
    ("22210101", "应交增值税-销项税额 Output VAT", "liability"),
    ("22210102", "应交增值税-进项税额 Input VAT", "liability"),
    ("4001", "实收资本 Paid-in capital", "equity"),
    ("6001", "主营业务收入 Revenue", "income"),
    ("6401", "主营业务成本 Cost of goods sold", "expense"),
    ("6601.01", "销售费用-平台佣金 Platform commission", "expense"),
    ("6601.02", "销售费用-快递费 Courier fees", "expense"),
    ("6603.01", "财务费用-支付手续费 Payment fees", "expense"),
)

#: Parents whose children are one per party (shop, supplier, courier; 1123: prepayments per
#: supplier, so one can be applied to that supplier's payable: cloud/finance/payables.py).
PARTY_PARENTS = ("1122", "1123", "2202.01", "2202.02")
_PARTY = re.compile(r"[A-Za-z0-9_-]{1,40}")


def party_code(parent: str, party: str) -> str:
    """The code of ``party``'s account under ``parent`` (refuses names that are no code)."""
    if parent not in PARTY_PARENTS:
        raise ValueError(f"{parent} has no accounts per party")
    if not _PARTY.fullmatch(party):
        raise InvalidError(
            N_("%(party)r cannot name an account: use letters, digits, '_' or '-' (at most 40)"),
            "party",
            party=party,
        )
    return f"{parent}.{party}"


def seed_chart(session: Session, account_id: int, currency: str = CURRENCY) -> None:
    """Open the standard accounts for a seller (again: changes nothing)."""
    rows = [
        {"account_id": account_id, "code": c, "name": n, "type": t, "currency": currency}
        for c, n, t in CHART
    ]
    stmt = insert_for(dialect_of(session), FinAccount.__table__).on_conflict_do_nothing(
        index_elements=["account_id", "code"]
    )
    session.execute(stmt, rows)


def open_party_accounts(session: Session, account_id: int, codes: Iterable[str]) -> None:
    """Open the per-party accounts among ``codes`` that do not exist yet (chart seeded first)."""
    wanted = {c for c in codes if c.rsplit(".", 1)[0] in PARTY_PARENTS and "." in c}
    if not wanted:
        return
    have = set(
        session.execute(
            select(FinAccount.code).where(
                FinAccount.account_id == account_id, FinAccount.code.in_(wanted)
            )
        ).scalars()
    )
    missing = sorted(wanted - have)
    if not missing:
        return
    parents = {
        a.code: a
        for a in session.execute(
            select(FinAccount).where(
                FinAccount.account_id == account_id, FinAccount.code.in_(PARTY_PARENTS)
            )
        ).scalars()
    }
    rows = []
    for code in missing:
        parent_code, party = code.rsplit(".", 1)
        parent = parents.get(parent_code)
        if parent is None:
            raise InvalidError(
                N_("the chart of accounts has no %(parent_code)s: seed it first"),
                parent_code=parent_code,
            )
        rows.append(
            {
                "account_id": account_id,
                "code": code,
                "name": f"{parent.name} · {party}",
                "type": parent.type,
                "currency": parent.currency,
            }
        )
    stmt = insert_for(dialect_of(session), FinAccount.__table__).on_conflict_do_nothing(
        index_elements=["account_id", "code"]
    )
    session.execute(stmt, rows)
