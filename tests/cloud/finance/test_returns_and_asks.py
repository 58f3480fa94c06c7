"""On both databases, one hub for the module:

* returns and after-sales refunds into the books (cloud/finance/returns.py): goods back at
  the cost their shipment took out, revenue and VAT reversed, the refund instructions
  confirmed then paid by a settlement row — each once, however often the receipt is
  delivered or the poster replays its stream;
* invoices buyers ask for with channel orders (cloud/finance/einvoice/auto.py), requested
  once each order ships; a bad taxpayer number is a task, not a request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cloud.channels import intake
from cloud.channels.ports import ChannelTrade
from cloud.db.aftersales import AftersalesRefund
from cloud.db.einvoice import EInvoice, EInvoiceLine
from cloud.db.engine import transaction
from cloud.db.finance import FinAccount, FinCursor, FinEntry, FinItemCost, FinLeg
from cloud.db.models import Account, ChannelShop, Task
from cloud.finance import cli as finance_cli
from cloud.finance import events, ledger, order_money, poster, settlements
from cloud.finance.einvoice import auto, invoices
from cloud.finance.postings import ReturnRefund
from tests.cloud.aftersales.conftest import RECIPIENT, demo, hub, new_sku, ok, order  # noqa: F401
from tests.cloud.finance.test_settlements import csv, row

D = Decimal
AS = "/api/v1/aftersales"


class Crash(Exception):
    pass


def _factory(c: TestClient) -> sessionmaker[Session]:
    return c.app.state.sessions  # type: ignore[attr-defined,no-any-return]


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def _legs(s: Session, seller: int, doc: str, kind: str) -> dict[str, Decimal]:
    rows = s.execute(
        select(FinAccount.code, FinLeg.amount)
        .join(FinLeg, FinLeg.fin_account_id == FinAccount.id)
        .join(FinEntry, FinEntry.id == FinLeg.entry_id)
        .where(FinEntry.account_id == seller, FinEntry.source_doc == doc)
        .where(FinEntry.event_kind == kind)
    ).all()
    return {code: D(amount) for code, amount in rows}


def _costed_sku(c: TestClient) -> str:
    """A SKU of this test with 10 units received from a supplier at 20.00 (a known cost)."""
    sku, _ = new_sku(c, stock=0)
    tag = uuid.uuid4().hex[:6].upper()
    ok(c.post("/api/v1/suppliers", json={"code": f"S{tag}", "name": "退货测试厂"}))
    po = f"PO-{tag}"
    ok(
        c.post(
            "/api/v1/purchase-orders",
            json={
                "number": po,
                "warehouse": "WH1",
                "supplier": f"S{tag}",
                "lines": [{"sku_code": sku, "qty": 10, "unit_price": "20.00"}],
                "confirm": True,
            },
        )
    )
    ok(
        c.post(
            f"/api/v1/purchase-orders/{po}/receipts",
            json={
                "receipt_id": f"RC-{tag}",
                "warehouse": "WH1",
                "lines": [{"sku_code": sku, "qty": 10, "verdict": "pass"}],
            },
        )
    )
    return sku


def test_a_return_and_a_refund_only_post_once_and_their_refunds_are_confirmed_then_paid(
    demo: TestClient,  # noqa: F811
) -> None:
    factory = _factory(demo)
    with transaction(factory) as s:
        seller = int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())
    sku = _costed_sku(demo)
    no = order(demo, [{"line_id": "1", "sku_code": sku, "qty": 3, "price_cents": 3000}])
    assert poster.tick(factory, _later()).stopped == {}

    # A return of 2 units: one sellable, one damaged, delivered twice (same receipt id).
    ret = ok(
        demo.post(
            AS, json={"order_no": no, "kind": "return", "lines": [{"order_line_id": "1", "qty": 2}]}
        )
    )["number"]
    ok(demo.post(f"{AS}/{ret}/approve", json={}))
    receipt = {
        "receipt_id": f"RR-{ret}",
        "warehouse": "WH1",
        "lines": [{"line_no": 1, "sku_code": sku, "sellable": 1, "damaged": 1, "reason": "裂"}],
    }
    assert ok(demo.post(f"{AS}/{ret}/receive", json=receipt))["new"] is True
    assert ok(demo.post(f"{AS}/{ret}/receive", json=receipt))["new"] is False

    # A crash between posting and the commit posts nothing; the next tick posts it all.
    def crash(_: Session) -> None:
        raise Crash

    with pytest.raises(Crash):
        poster.post_batch(factory, seller, "aftersales", _later(), before_commit=crash)
    doc = f"{no}#{ret}"
    with transaction(factory) as s:
        assert _legs(s, seller, doc, "return_received") == {}
    assert poster.tick(factory, _later()).stopped == {}

    with transaction(factory) as s:
        # 3 shipped at 20.00 each; 2 back at the cost they left with (40.00).
        assert _legs(s, seller, doc, "return_received") == {"1405": D("40.00"), "6401": D("-40.00")}
        # 60.00 refunded: 53.10 revenue + 6.90 VAT (13 %, half up) back from the clearing.
        assert _legs(s, seller, doc, "refund_shipped") == {
            "6001": D("53.10"),
            "22210101": D("6.90"),
            "1122.manual": D("-60.00"),
        }
        cost = s.get_one(FinItemCost, (seller, sku))
        assert (cost.quantity, cost.value) == (D("9"), D("180.00"))
        refund = s.execute(
            select(AftersalesRefund).where(AftersalesRefund.order_no == no)
        ).scalar_one()
        assert (refund.status, refund.amount) == ("confirmed", D("60.00"))
        key = ReturnRefund(doc, "manual", D("60.00"), refund.created_at.date())
        assert refund.entry_id is not None and refund.entry_id == events.find(s, seller, key)
        hash_once = ledger.ledger_hash(s, seller)
        # Delivered again (the stream replayed from its start): nothing changes.
        s.execute(update(FinCursor).where(FinCursor.account_id == seller).values(position=0))
    assert poster.tick(factory, _later()).stopped == {}
    with transaction(factory) as s:
        assert ledger.ledger_hash(s, seller) == hash_once
        cost = s.get_one(FinItemCost, (seller, sku))
        assert (cost.quantity, cost.value) == (D("9"), D("180.00"))

    # A refund only of the last unit: 30.00 back, no goods.
    only = ok(
        demo.post(
            AS,
            json={
                "order_no": no,
                "kind": "refund_only",
                "lines": [{"order_line_id": "1", "qty": 1}],
            },
        )
    )["number"]
    assert ok(demo.post(f"{AS}/{only}/approve", json={}))["status"] == "closed"
    assert poster.tick(factory, _later()).stopped == {}
    money = ok(demo.get(f"/api/v1/finance/orders/{no}"))
    assert (money["paid"], money["refunded"], money["state"]) == ("90.00", "90.00", "refunded")
    with transaction(factory) as s:
        assert _legs(s, seller, f"{no}#{only}", "return_received") == {}
        assert _legs(s, seller, f"{no}#{only}", "refund_shipped")["1122.manual"] == D("-30.00")

    # The platform pays the first refund back (a settlement row of 60.00): paid, once.
    bill = csv([row("RF1", no, "", "-60.00", "940.00", "交易退款")])
    with transaction(factory) as s:
        settlements.import_bill(s, seller, bill, "refund.csv", "test", _later())
    listed = ok(demo.get("/api/v1/aftersales-refunds", params={"limit": 1000}))
    mine = {x["request"]: (x["status"], x["paid_by"]) for x in listed if x["order_no"] == no}
    assert mine == {ret: ("paid", "RF1"), only: ("confirmed", None)}


def _trade(tid: str, sku: str, ask: dict[str, str]) -> ChannelTrade:
    now = datetime.now(UTC)
    payload = {
        "tid": tid,
        "buyer_nick": "开票买家",
        "payment": "56.50",
        "receiver_name": RECIPIENT["name"],
        "receiver_mobile": RECIPIENT["phone"],
        "receiver_state": RECIPIENT["province"],
        "receiver_city": RECIPIENT["city"],
        "receiver_district": RECIPIENT["district"],
        "receiver_address": RECIPIENT["address"],
        "orders": {"order": [{"oid": f"{tid}1", "outer_sku_id": sku, "num": 1, "price": "56.50"}]},
        **ask,
    }
    return ChannelTrade(tid, now, "WAIT_SELLER_SEND_GOODS", "fixed", True, False, payload)


def test_invoices_asked_with_channel_orders_are_requested_once_when_they_ship(
    demo: TestClient,  # noqa: F811
) -> None:
    factory = _factory(demo)
    now = datetime.now(UTC)
    sku = _costed_sku(demo)  # so the poster of the other test can book its shipments
    tag = uuid.uuid4().hex[:6].upper()
    company, person, typo, none = (f"9{tag}{n}" for n in range(4))
    with transaction(factory) as s:
        seller = int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())
        invoices.connect_seller(
            s,
            seller,
            url="http://127.0.0.1:9",
            app_key="k",
            app_secret="s",
            access_token="t",
            seller_tax_id="91350100M000100Y43",
            seller_name="测试卖家",
            now=now,
            auto_tax_code="1090101990000000000",
            auto_rate="0.13",
        )
        shop = ChannelShop(
            account_id=seller,
            code=f"tb-{tag}",
            platform="taobao",
            api_url="http://127.0.0.1:9",
            app_key="k",
            app_secret="s",
            session_key="x",
            start_from=now,
            created_at=now,
        )
        s.add(shop)
        s.flush()
        trades = [
            _trade(
                company,
                sku,
                {
                    "invoice_name": "杭州某某科技有限公司",
                    "payer_register_no": "91110000600037341L",
                    "invoice_kind": "1",
                },
            ),
            _trade(person, sku, {"invoice_name": "个人", "invoice_kind": "1"}),
            _trade(
                typo, sku, {"invoice_name": "某公司", "payer_register_no": "91110000600037341A"}
            ),
            _trade(none, sku, {}),
        ]
        stored = intake.store(s, shop, trades, now, now)
        assert stored.held == 0
    # Nothing is asked before the goods leave.
    assert auto.tick(factory, now).requested == []
    for no in (company, person, typo, none):
        assert ok(demo.post(f"/api/v1/orders/{no}/release"))["status"] == "released"
        ok(demo.post(f"/api/v1/orders/{no}/ship"))
    got = auto.tick(factory, now)
    assert sorted(got.requested) == sorted([company, person])
    assert list(got.refused) == [typo] and "check character" in got.refused[typo]
    assert auto.tick(factory, now).requested == []  # shipped once, asked once
    with transaction(factory) as s:
        made = {
            inv.order_no: (inv.kind, inv.state, inv.buyer_name, inv.buyer_tax_id)
            for inv in s.execute(select(EInvoice).where(EInvoice.account_id == seller)).scalars()
            if inv.order_no in (company, person, typo, none)
        }
        assert made == {
            company: ("blue", "queued", "杭州某某科技有限公司", "91110000600037341L"),
            person: ("blue", "queued", "个人", None),
        }
        lines = s.execute(
            select(EInvoiceLine.amount, EInvoiceLine.tax)
            .join(EInvoice, EInvoice.id == EInvoiceLine.einvoice_id)
            .where(EInvoice.order_no == company)
        ).all()
        assert [(D(a), D(t)) for a, t in lines] == [(D("50.00"), D("6.50"))]
        task = s.execute(select(Task).where(Task.order_no == typo)).scalar_one()
        assert task.kind == auto.TASK and "Ask the buyer" in task.detail
        # Replayed from the start (the cursor lost): still one invoice per order.
        s.execute(
            update(FinCursor)
            .where(FinCursor.account_id == seller, FinCursor.stream == auto.STREAM)
            .values(position=0)
        )
    again = auto.tick(factory, now)
    assert again.requested == [] and list(again.refused) == [typo]


def _connect(s: Session, seller: int, auto_on: bool) -> None:
    invoices.connect_seller(
        s,
        seller,
        url="http://127.0.0.1:9",
        app_key="k",
        app_secret="s",
        access_token="t",
        seller_tax_id="91350100M000100Y43",
        seller_name="测试卖家",
        now=datetime.now(UTC),
        auto_tax_code="1090101990000000000" if auto_on else None,
        auto_rate="0.13" if auto_on else None,
    )


def test_turning_automatic_invoices_on_invoices_only_what_ships_from_then_on(
    demo: TestClient,  # noqa: F811
) -> None:
    """The cursor starts where the order history stands when it is turned on (again):
    orders that asked and shipped before, or while it was off, are not invoiced by it."""
    factory = _factory(demo)
    now = datetime.now(UTC)
    sku = _costed_sku(demo)
    tag = uuid.uuid4().hex[:6].upper()
    before, after, while_off, after_again = (f"8{tag}{n}" for n in range(4))
    ask = {"invoice_name": "个人", "invoice_kind": "1"}
    with transaction(factory) as s:
        seller = int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())
        _connect(s, seller, auto_on=False)
        shop = ChannelShop(
            account_id=seller,
            code=f"tb-{tag}",
            platform="taobao",
            api_url="http://127.0.0.1:9",
            app_key="k",
            app_secret="s",
            session_key="x",
            start_from=now,
            created_at=now,
        )
        s.add(shop)
        s.flush()
        trades = [_trade(no, sku, ask) for no in (before, after, while_off, after_again)]
        assert intake.store(s, shop, trades, now, now).held == 0

    def ship(no: str) -> None:
        assert ok(demo.post(f"/api/v1/orders/{no}/release"))["status"] == "released"
        ok(demo.post(f"/api/v1/orders/{no}/ship"))

    ship(before)
    with transaction(factory) as s:
        _connect(s, seller, auto_on=True)
    ship(after)
    assert auto.tick(factory, now).requested == [after]
    with transaction(factory) as s:  # connected again, still on: the cursor stays
        _connect(s, seller, auto_on=True)
        _connect(s, seller, auto_on=False)
    ship(while_off)
    assert auto.tick(factory, now).requested == []  # off: nothing asked
    with transaction(factory) as s:
        _connect(s, seller, auto_on=True)
    ship(after_again)
    assert auto.tick(factory, now).requested == [after_again]
    with transaction(factory) as s:
        made = set(
            s.execute(
                select(EInvoice.order_no).where(
                    EInvoice.account_id == seller,
                    EInvoice.order_no.in_([before, after, while_off, after_again]),
                )
            ).scalars()
        )
    assert made == {after, after_again}


def test_a_buyers_prepayment_refunded_in_parts_before_shipping(
    demo: TestClient,  # noqa: F811
) -> None:
    factory = _factory(demo)
    with transaction(factory) as s:
        seller = int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())
    sku = _costed_sku(demo)
    no = order(demo, [{"line_id": "1", "sku_code": sku, "qty": 2, "price_cents": 4900}], ship=False)
    assert (
        poster.tick(factory, _later()).stopped == {}
    )  # paid: 98.00 (under 100.00: no free gift line)
    url = f"/api/v1/finance/orders/{no}/prepayment-refunds"
    first = {"refund_no": "TK1", "amount": "10.00", "reason": "少发赠品，退 10 元"}
    got = ok(demo.post(url, json=first))
    assert (got["paid"], got["refunded"], got["state"]) == ("98.00", "10.00", "partly_refunded")
    assert ok(demo.post(url, json=first))["refunded"] == "10.00"  # a retry: once
    r = demo.post(url, json={**first, "amount": "11.00"})
    assert r.status_code == 409 and "was 10.00, not 11.00" in r.text
    r = demo.post(url, json={**first, "refund_no": "TK2", "amount": "88.01"})
    assert r.status_code == 409 and "more than the 88.00 paid" in r.text
    r = demo.post(url, json={**first, "refund_no": "TK2", "amount": "1,000.00"})
    assert r.status_code == 422
    bank = {"refund_no": "TK2", "amount": "5.50", "reason": "线下退款", "paid_from": "1002"}
    assert ok(demo.post(url, json=bank))["refunded"] == "15.50"
    with transaction(factory) as s:
        assert _legs(s, seller, f"{no}#TK1", "refund_unshipped") == {
            "2203": D("10.00"),
            "1122.manual": D("-10.00"),
        }
        assert _legs(s, seller, f"{no}#TK2", "refund_unshipped") == {
            "2203": D("5.50"),
            "1002": D("-5.50"),
        }
    # It ships: revenue and VAT on what the buyer kept paid (82.50), 2203 of the order 0.
    assert ok(demo.post(f"/api/v1/orders/{no}/release"))["status"] == "released"
    ok(demo.post(f"/api/v1/orders/{no}/ship"))
    assert poster.tick(factory, _later()).stopped == {}
    with transaction(factory) as s:
        shipped = _legs(s, seller, no, "order_shipped")
        assert shipped["2203"] == D("82.50") and shipped["6001"] + shipped["22210101"] == D(
            "-82.50"
        )
    r = demo.post(url, json={**first, "refund_no": "TK3", "amount": "1.00"})
    assert r.status_code == 409 and "after-sales" in r.text


def test_a_prepayment_refund_from_the_cli(
    demo: TestClient,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``guanjia finance prepayment-refund``: posted once per refund number; refusals are
    sentences with exit code 1 and nothing booked."""
    factory = _factory(demo)
    monkeypatch.setattr(finance_cli, "_factory", lambda _url: factory)
    sku = _costed_sku(demo)
    no = order(demo, [{"line_id": "1", "sku_code": sku, "qty": 1, "price_cents": 4900}], ship=False)
    assert poster.tick(factory, _later()).stopped == {}
    base = ["prepayment-refund", no, "--account", "demo", "--reason", "缺货退款"]
    run = CliRunner().invoke(
        finance_cli.finance_app, [*base, "--refund-no", "C1", "--amount", "9.00"]
    )
    assert run.exit_code == 0, run.output
    assert "posted" in run.output and "paid 49.00, refunded 9.00" in run.output
    again = CliRunner().invoke(
        finance_cli.finance_app, [*base, "--refund-no", "C1", "--amount", "9.00"]
    )
    assert again.exit_code == 0 and "booked before, nothing changed" in again.output
    for args, said in (
        (["--refund-no", "C2", "--amount", "40.01"], "more than the 40.00 paid"),
        (["--refund-no", "C2", "--amount", "1.5e1"], "is not an amount"),
        (["--refund-no", "C2", "--amount", "1.00", "--paid-from", "6001"], "not 6001"),
        (["--refund-no", "C1", "--amount", "8.00"], "was 9.00, not 8.00"),
    ):
        bad = CliRunner().invoke(finance_cli.finance_app, [*base, *args])
        assert bad.exit_code == 1 and said in bad.output, (args, bad.output)
    with transaction(factory) as s:
        seller = int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())
        assert order_money.money_of(s, seller, no).refunded == D("9.00")
        assert _legs(s, seller, f"{no}#C2", "refund_unshipped") == {}
