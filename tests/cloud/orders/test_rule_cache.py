"""Re-save uses the account's rules and carriers kept in the process, and an edit made
through another process is used by the next re-save (issue 20; cloud/orders/rule_cache.py,
migration 0061). Two engines on one database stand for two hub processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.models import Account, Carrier, OrderDecision, SalesOrder
from cloud.orders import workflow
from cloud.orders.audit_rules import CarrierIn, RuleIn, put_carrier, put_rule
from cloud.seed import seed_demo

HELD = "JY1300004"  # saved, held for its buyer remark: a re-save audits it again


@pytest.fixture
def two(engine: Engine, db_url: str) -> Iterator[tuple[sessionmaker[Session], ...]]:
    other = make_engine(db_url)
    try:
        yield session_factory(engine), session_factory(other)
    finally:
        other.dispose()


def account(s: Session) -> int:
    return int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())


def resave(sessions: sessionmaker[Session], now: datetime) -> tuple[SalesOrder, list[str]]:
    """Save the held order again; the statements it ran."""
    seen: list[str] = []

    def count(_c: object, _cur: object, statement: str, *_: object) -> None:
        seen.append(statement)

    with transaction(sessions) as s:
        bind = s.get_bind()
        event.listen(bind, "before_cursor_execute", count)
        try:
            o = workflow.save(s, account(s), HELD, "auditor", now)
            s.flush()
        finally:
            event.remove(bind, "before_cursor_execute", count)
        s.expunge(o)
    return o, seen


def reads_rules(statements: list[str]) -> bool:
    return any("FROM audit_rule" in st or "FROM carrier" in st for st in statements)


def test_resave_keeps_rules_and_sees_an_edit_from_another_process(
    two: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    one, other = two
    now = datetime.now(UTC)
    with transaction(one) as s:
        seed_demo(s, now, password="pw-of-the-demo-seller", node_ids=[])
        acc = account(s)
    o, first = resave(other, now)
    assert "check by hand" not in (o.hold_reason or "")
    assert reads_rules(first)
    o, again = resave(other, now)
    # Kept: no rule or carrier read, one read of the account's version instead.
    assert not reads_rules(again), again
    assert any("rules_version" in st for st in again)
    assert len(again) < len(first)

    # An edit through the other "process": a hold rule for every order.
    with transaction(one) as s:
        put_rule(
            s,
            acc,
            "hold-all",
            RuleIn(kind="hold", name="全部人工审", priority=1, action={"hold": "check by hand"}),
            "admin",
            now,
        )
    o, seen = resave(other, now)
    assert reads_rules(seen)
    assert o.on_hold and "check by hand" in (o.hold_reason or "")
    with other() as s:
        fired = s.execute(
            select(OrderDecision.rule_key).where(
                OrderDecision.order_id == o.id, OrderDecision.rule_key == "hold-all"
            )
        ).all()
        assert len(fired) == 1  # the last re-save only

    # A carrier's change is seen too: its cost is what a lowest-cost rule compares.
    with transaction(one) as s:
        before = s.execute(select(Carrier.code).where(Carrier.account_id == acc)).scalars().first()
        assert before is not None
        c = s.get(Carrier, (acc, before))
        assert c is not None
        put_carrier(
            s,
            acc,
            before,
            CarrierIn(name=c.name, cost_cents=c.cost_cents + 1, unreachable=list(c.unreachable)),
            "admin",
            now,
        )
    _, seen = resave(other, now)
    assert reads_rules(seen)
