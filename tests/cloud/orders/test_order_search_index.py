"""Order search through SQLite's trigram index (issue 20, migration 0023) and PostgreSQL's
(0007): the same answers as a scan, for short Chinese keywords, for keywords that are query
syntax to FTS5, and with the index in step after arrival, patch, split, merge and any other
write (docs/cloud.md "Order search").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, text, update

from cloud.db.engine import session_factory
from cloud.db.models import SalesOrder
from cloud.orders import views
from cloud.orders.views import OrderFilter
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, account_id_of, login

CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"


@pytest.fixture
def shop(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def ok(r: Any) -> Any:
    assert r.status_code < 300, (r.request.method, str(r.request.url), r.status_code, r.text)
    return r.json()


def create(c: TestClient, no: str, buyer: str, qty: int = 1) -> None:
    line = {"line_id": "1", "sku_code": CASE, "qty": qty, "price_cents": 5900}
    body = {"order_no": no, "buyer_nick": buyer, "recipient": _BEIJING, "lines": [line]}
    ok(c.post("/api/v1/orders", json={"orders": [body], "auto_audit": False}))


_BEIJING = {
    "name": "王五",
    "phone": "13900000009",
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "address": "建国路 1 号",
}


def search(c: TestClient, q: str) -> set[str]:
    r = c.get("/api/v1/orders", params={"q": q, "limit": 200})
    assert r.status_code == 200, r.text
    return {o["order_no"] for o in r.json()}


def engine(c: TestClient) -> Engine:
    return c.app.state.engine  # type: ignore[attr-defined,no-any-return]


def assert_index_in_step(c: TestClient) -> None:
    """SQLite: the FTS rows are exactly the orders' searched columns, one row per order."""
    e = engine(c)
    if e.dialect.name != "sqlite":
        return
    with e.connect() as conn:
        indexed = conn.execute(
            text(
                "SELECT f.order_id, f.order_no, f.buyer_nick, f.tracking_number, k.k"
                " FROM order_search f JOIN order_search_key k ON k.k = f.rowid"
            )
        ).all()
        orders = conn.execute(
            text("SELECT id, order_no, buyer_nick, tracking_number FROM sales_order")
        ).all()
        keys = conn.execute(text("SELECT count(*) FROM order_search_key")).scalar_one()
    assert sorted(tuple(r[:4]) for r in indexed) == sorted(tuple(r) for r in orders)
    assert keys == len(orders)


def test_two_character_chinese_keywords(shop: TestClient) -> None:
    c = shop
    create(c, "ZH-1", "张三丰")
    create(c, "ZH-2", "李四")
    create(c, "ZH-3", "张三")
    assert search(c, "张三") == {"ZH-1", "ZH-3"}  # 2 characters: no trigram, still found
    assert search(c, "三丰") == {"ZH-1"}
    assert search(c, "四") == {"ZH-2"}
    assert search(c, "张三丰") == {"ZH-1"}  # 3 characters: through the index
    assert search(c, "张三 ZH-3") == {"ZH-3"}  # short and long keywords combine (AND)
    assert search(c, "张三丰 ZH-3") == set()
    assert search(c, "王五") == set()  # the recipient's name is not searched


SYNTAX = {
    "Q-1": 'say"hi',
    "Q-2": "star*light",
    "Q-3": "NEAR OR AND",
    "Q-4": "50%_off",
    "Q-5": "x'); DROP TABLE sales_order; --",
    "Q-6": "^caret(1)",
    "Q-7": "plain",
}


#: (keyword, the orders it finds): each as text, as a scan with LIKE finds it.
SYNTAX_SEARCHES = [
    ('"', {"Q-1"}),
    ('y"h', {"Q-1"}),
    ('"hi', {"Q-1"}),
    ("*", {"Q-2"}),
    ("r*l", {"Q-2"}),
    ("NEAR", {"Q-3"}),
    ("near", {"Q-3"}),  # SQLite's LIKE: ASCII letters in either case
    ("OR", {"Q-3", "Q-5"}),  # and DROP
    ("AND", {"Q-3"}),
    ("NEAR(", set()),
    ("%", {"Q-4"}),
    ("0%_", {"Q-4"}),
    ("%_o", {"Q-4"}),
    ("_", {"Q-4", "Q-5"}),  # and sales_order
    ("');", {"Q-5"}),
    ("DROP", {"Q-5"}),
    ("^ca", {"Q-6"}),
    ("(1)", {"Q-6"}),
    ("-Q", set()),
    ("pla*", set()),  # no prefix queries: * is a character
]


def test_query_syntax_is_text(shop: TestClient) -> None:
    c = shop
    for no, buyer in SYNTAX.items():
        create(c, no, buyer)
    expected = dict(SYNTAX_SEARCHES)
    if engine(c).dialect.name == "postgresql":
        # LIKE there tells case (as before 0022; SQLite's LIKE folds ASCII letters).
        expected.update({"near": set(), "OR": {"Q-3"}})
    found = {q: search(c, q) for q, _ in SYNTAX_SEARCHES}
    assert found == expected
    assert search(c, "Q-") == set(SYNTAX)  # nothing changed, the table is there
    assert_index_in_step(c)


def test_the_index_stays_in_step(shop: TestClient) -> None:
    c = shop
    create(c, "IX-1", "stepbuyer", qty=3)
    create(c, "IX-2", "stepbuyer")
    create(c, "IX-3", "otherbuyer")
    assert_index_in_step(c)
    ok(c.patch("/api/v1/orders/IX-1", json={"seller_note": "call first"}))
    assert_index_in_step(c)
    ok(c.post("/api/v1/orders/IX-1/split", json={"lines": [{"line_id": "1", "qty": 1}]}))
    assert_index_in_step(c)
    assert search(c, "IX-1-S") == {"IX-1-S1"}
    assert search(c, "IX-1") == {"IX-1", "IX-1-S1"}
    ok(c.post("/api/v1/orders/merge", json={"order_nos": ["IX-1", "IX-2"]}))
    assert_index_in_step(c)
    assert search(c, "stepbuyer") == {"IX-1", "IX-1-S1", "IX-2"}
    # Any writer, not only the API: a tracking number set and a nick changed by SQL.
    account = account_id_of(c)
    with session_factory(engine(c)).begin() as s:
        s.execute(
            update(SalesOrder)
            .where(SalesOrder.account_id == account, SalesOrder.order_no == "IX-3")
            .values(tracking_number="SF1234567890", buyer_nick="renamed")
        )
    assert_index_in_step(c)
    assert search(c, "SF12345") == {"IX-3"}
    assert search(c, "otherbuyer") == set()
    assert search(c, "renamed") == {"IX-3"}
    with session_factory(engine(c)).begin() as s:
        order_id = s.execute(
            text("SELECT id FROM sales_order WHERE order_no = 'IX-3'")
        ).scalar_one()
        for table in ("order_log", "order_decision"):  # lines and leases: ON DELETE CASCADE
            s.execute(text(f"DELETE FROM {table} WHERE order_id = :i"), {"i": order_id})
        s.execute(delete(SalesOrder).where(SalesOrder.id == order_id))
    assert_index_in_step(c)
    assert search(c, "renamed") == set()


def test_a_rare_keyword_or_an_empty_shop_is_not_found_by_walking_every_order(
    shop: TestClient,
) -> None:
    """SQLite: the rare keyword's hits (or the shop's orders) drive the query; the list's
    newest-first index is not walked (which probed every order: 300 ms at 100,000)."""
    c = shop
    e = engine(c)
    if e.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans its own way (its trigram indexes: 0007)")
    for i in range(3):
        create(c, f"RW-{i}", f"walker{i}")
    account = account_id_of(c)
    sessions = session_factory(e)
    seen: list[str] = []
    plans: list[str] = []
    for f in (OrderFilter(q="walker1"), OrderFilter(shop="no-such-shop")):
        with sessions() as s:
            conn = s.connection()

            def explain(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
                if "OFFSET" in statement and "EXPLAIN" not in statement:  # the page
                    rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, params)
                    plans.append(" | ".join(r[3] for r in rows))

            event.listen(conn, "before_cursor_execute", explain)
            rows = views.page(s, account, f, limit=50, offset=0)
            event.remove(conn, "before_cursor_execute", explain)
        seen.extend(r["order_no"] for r in rows)
        page_plan = plans[-1]
        assert "ix_order_recent" not in page_plan, page_plan
    assert seen == ["RW-1"]
