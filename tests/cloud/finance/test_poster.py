"""The poster (cloud/finance/poster.py): business facts of the hub into the books, once.

An order's life through the API (arrive → ship → 冲销出库 → cancel) and a PO receipt end in
the books exactly once, whether the poster runs once or twice, crashes between posting and
its commit, or runs twice at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.finance import FinCursor, FinEntry, FinItemCost
from cloud.db.models import Account, SalesOrder
from cloud.finance import closing, ledger, poster
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, login

D = Decimal
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
ORDER = "JY1300005"  # one CASE (cloud/seed.py)


class Crash(Exception):
    pass


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def _factory(c: TestClient) -> sessionmaker[Session]:
    return c.app.state.sessions  # type: ignore[attr-defined,no-any-return]


def _seller(c: TestClient) -> int:
    with transaction(_factory(c)) as s:
        return int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())


def _receive(c: TestClient, qty: int = 10, price: str = "20.00") -> None:
    assert c.post("/api/v1/suppliers", json={"code": "SUP1", "name": "深圳壳厂"}).is_success
    r = c.post(
        "/api/v1/purchase-orders",
        json={
            "number": "PO-FIN-1",
            "warehouse": "WH1",
            "supplier": "SUP1",
            "lines": [{"sku_code": CASE, "qty": qty + 2, "unit_price": price}],
            "confirm": True,
        },
    )
    assert r.status_code == 201, r.text
    r = c.post(
        "/api/v1/purchase-orders/PO-FIN-1/receipts",
        json={
            "receipt_id": "FIN-RC-1",
            "warehouse": "WH1",
            "lines": [
                {"sku_code": CASE, "qty": qty, "verdict": "pass"},
                {"sku_code": CASE, "qty": 2, "verdict": "fail", "reason": "cracked"},
            ],
        },
    )
    assert r.status_code == 201, r.text


def _life(c: TestClient) -> None:
    """Ship the order, take the shipment back (冲销出库), cancel it: a refund after payment."""
    assert c.post(f"/api/v1/orders/{ORDER}/release").is_success
    assert c.post(f"/api/v1/orders/{ORDER}/ship").json()["status"] == "shipped"
    r = c.post(f"/api/v1/orders/{ORDER}/reverse-outbound", json={"reason": "买家退款"})
    assert r.json()["status"] == "audited", r.text
    r = c.post(f"/api/v1/orders/{ORDER}/cancel", json={"reason": "买家退款"})
    assert r.json()["status"] == "cancelled", r.text


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


@dataclass(frozen=True)
class Books:
    entries: list[tuple[str, str]]
    hash: str
    cost: tuple[Decimal, Decimal] | None
    balances: dict[str, Decimal]


def _books(c: TestClient, seller: int) -> Books:
    with transaction(_factory(c)) as s:
        kinds: list[tuple[str, str]] = sorted(
            (e.source_doc, e.event_kind)
            for e in s.execute(select(FinEntry).where(FinEntry.account_id == seller)).scalars()
        )
        cost = s.get(FinItemCost, (seller, CASE))
        return Books(
            kinds,
            ledger.ledger_hash(s, seller),
            None if cost is None else (cost.quantity, cost.value),
            {r.code: r.balance for r in ledger.trial_balance(s, seller) if r.balance != 0},
        )


def _total_cents(c: TestClient, seller: int) -> int:
    with transaction(_factory(c)) as s:
        return int(
            s.execute(
                select(SalesOrder.total_cents).where(
                    SalesOrder.account_id == seller, SalesOrder.order_no == ORDER
                )
            ).scalar_one()
        )


def test_an_orders_life_ends_in_the_books_once(demo: TestClient) -> None:
    seller = _seller(demo)
    _receive(demo)
    _life(demo)
    first = poster.tick(_factory(demo), _later())
    assert first.stopped == {} and first.posted > 0
    books = _books(demo, seller)
    assert poster.tick(_factory(demo), _later()).posted == 0
    assert _books(demo, seller) == books  # the second run changes nothing

    mine = [e for e in books.entries if str(e[0]).startswith(ORDER)]
    assert mine == [(ORDER, "order_paid"), (ORDER, "order_shipped"), (ORDER, "refund_unshipped")]
    assert sum(1 for e in books.entries if e[1] == "reversal") == 1
    assert ("receipt:1:0", "supplier_receipt") in books.entries
    # The goods are back at the cost they left with; the order's money is back with the buyer.
    assert books.cost == (D("10"), D("200.00"))
    balances = books.balances
    assert balances["1405"] == D("200.00") and balances["2202.01.SUP1"] == D("-200.00")
    assert "6001" not in balances and "6401" not in balances and "22210101" not in balances
    assert sum(balances.values()) == 0


def test_a_crash_before_the_commit_posts_nothing_then_all_once(demo: TestClient) -> None:
    seller = _seller(demo)
    _receive(demo)
    _life(demo)
    factory = _factory(demo)
    poster.tick(factory, _later(), lag=timedelta(days=1))  # opens the cursors, posts nothing
    assert _books(demo, seller).entries == []

    def crash(_: Session) -> None:
        raise Crash

    for stream in poster.STREAMS:
        with pytest.raises(Crash):
            poster.post_batch(factory, seller, stream, _later(), before_commit=crash)
    assert _books(demo, seller).entries == []
    with transaction(factory) as s:
        assert {c.position for c in s.execute(select(FinCursor)).scalars()} == {0}
    poster.tick(factory, _later())
    once = _books(demo, seller)
    poster.tick(factory, _later())
    assert _books(demo, seller) == once
    paid = [e for e in once.entries if e == (ORDER, "order_paid")]
    assert len(paid) == 1


def test_a_receipt_posts_inventory_and_payable(demo: TestClient) -> None:
    seller = _seller(demo)
    _receive(demo, qty=3, price="12.345")
    poster.tick(_factory(demo), _later())
    balances = _books(demo, seller).balances
    # 3 × 12.345 = 37.035 → 37.04 half up; the 2 QC-failed units are not booked.
    assert balances["1405"] == D("37.04") and balances["2202.01.SUP1"] == D("-37.04")


def test_a_shipment_without_cost_stops_its_stream_and_books_nothing_of_it(
    demo: TestClient,
) -> None:
    seller = _seller(demo)
    assert demo.post(f"/api/v1/orders/{ORDER}/release").is_success
    assert demo.post(f"/api/v1/orders/{ORDER}/ship").is_success
    out = poster.tick(_factory(demo), _later())
    why = out.stopped[(seller, "orders")]
    assert "book the supplier receipt first" in why
    entries = _books(demo, seller).entries
    assert (ORDER, "order_paid") in entries
    assert (ORDER, "order_shipped") not in entries
    with transaction(_factory(demo)) as s:
        cur = s.get_one(FinCursor, (seller, "orders"))
        assert cur.error == why
        stuck_at = cur.position
    # Still stopped at the same fact on the next tick: nothing skipped.
    assert poster.tick(_factory(demo), _later()).stopped[(seller, "orders")] == why
    with transaction(_factory(demo)) as s:
        assert s.get_one(FinCursor, (seller, "orders")).position == stuck_at


def test_two_posters_at_once_post_each_fact_once(demo: TestClient) -> None:
    seller = _seller(demo)
    _receive(demo)
    _life(demo)
    factory = _factory(demo)
    barrier = threading.Barrier(2)
    results: list[poster.Tick] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(poster.tick(factory, _later()))
        except BaseException as e:  # reported by the test below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with transaction(factory) as s:
        n = s.execute(
            select(func.count()).select_from(FinEntry).where(FinEntry.account_id == seller)
        ).scalar_one()
        counted = sum(c.posted for c in s.execute(select(FinCursor)).scalars())
    # Every fact posted by exactly one of them: the counts of the two add up to the facts.
    assert sum(r.posted for r in results) == counted
    assert poster.tick(factory, _later()).posted == 0
    assert _books(demo, seller).entries.count((ORDER, "order_paid")) == 1
    assert n >= 4
    assert _total_cents(demo, seller) > 0


def test_the_hub_worker_posts_in_the_background_and_stops(demo: TestClient) -> None:
    seller = _seller(demo)
    worker = poster.Worker(_factory(demo), timedelta(milliseconds=50), timedelta(0))
    worker.start()
    try:
        for _ in range(200):
            if (ORDER, "order_paid") in _books(demo, seller).entries:
                break
            threading.Event().wait(0.05)
    finally:
        worker.stop(timedelta(seconds=10))
    assert (ORDER, "order_paid") in _books(demo, seller).entries
    assert worker._thread is not None and not worker._thread.is_alive()


def test_a_second_poster_skips_the_stream_another_holds(demo: TestClient) -> None:
    """PostgreSQL: FOR UPDATE SKIP LOCKED on the cursor row. While one poster has posted a
    batch and not committed yet, another (here a thread; in production another hub process)
    neither waits nor posts the same facts: it skips the stream."""
    if demo.app.state.engine.dialect.name != "postgresql":  # type: ignore[attr-defined]
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the second one waits")
    seller = _seller(demo)
    factory = _factory(demo)
    poster.tick(factory, _later(), lag=timedelta(days=1))  # the cursors, nothing posted
    seen: list[tuple[int, str | None]] = []

    def meanwhile(_: Session) -> None:
        t = threading.Thread(
            target=lambda: seen.append(poster.post_batch(factory, seller, "orders", _later()))
        )
        t.start()
        t.join(20)
        assert not t.is_alive(), "the second poster waited for the first one's lock"

    first, error = poster.post_batch(factory, seller, "orders", _later(), before_commit=meanwhile)
    assert error is None and first > 0
    assert seen == [(0, None)]
    assert poster.post_batch(factory, seller, "orders", _later()) == (0, None)
    assert _books(demo, seller).entries.count((ORDER, "order_paid")) == 1


def test_the_order_stream_reads_the_log_from_its_cursor_not_the_sellers_orders(
    demo: TestClient,
) -> None:
    """On SQLite the stream's batch begins at the log, from the cursor, in id order: it
    began at the seller's orders and sorted their whole log (2.6 s a batch at 100,000
    orders; cloud/finance/poster.py ``_orders``). The plan is SQLite's with or without its
    statistics; PostgreSQL plans by its own."""
    from sqlalchemy import event, text

    sessions: sessionmaker[Session] = demo.app.state.sessions  # type: ignore[attr-defined]
    seen: list[tuple[str, object]] = []
    with sessions() as s:
        if s.get_bind().dialect.name != "sqlite":
            pytest.skip("the plan asked of SQLite; PostgreSQL's follows its statistics")
        account = s.scalars(select(Account.id).where(Account.name == "demo")).one()

        def keep(conn: object, cursor: object, statement: str, params: object, *_: object) -> None:
            if "order_log" in statement:
                seen.append((statement, params))

        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", keep)
        try:
            list(poster._orders(s, account, 0, datetime.now(UTC)))
            # The periods page counts what the stream has not posted yet the same way.
            closing._unposted(s, account, {}, datetime.now(UTC))
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        assert len(seen) == 2
        raw = s.connection().connection.driver_connection  # the sqlite3 connection
        plans = []
        for analyse in (False, True):
            if analyse:
                s.execute(text("ANALYZE"))
            for statement, params in seen:
                plans.append([r[3] for r in raw.execute(f"EXPLAIN QUERY PLAN {statement}", params)])  # type: ignore[union-attr]
    for steps in plans:
        assert steps[0].startswith("SEARCH order_log USING INTEGER PRIMARY KEY"), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps
