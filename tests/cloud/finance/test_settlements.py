"""Platform settlement reconciliation (cloud/finance/settlements.py), both databases.

The marketplace simulator's buyers pay; the hub downloads their trades as orders and the
poster books them paid (1122.taobao / 2203); the simulator's Alipay bill of the day is
fetched as Alipay serves it (gateway method, then the zip) and imported: every sale
matches its order once, the commission, fees, deposit and compensation are posted, the
clearing account of every settled order ends at 0.00, the books balance. Bad bills are
refused with the line at fault and store nothing; the same file twice is refused.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cloud.db.engine import transaction
from cloud.db.finance import FinEntry
from cloud.db.models import SalesOrder
from cloud.db.settlement import SettlementBill, SettlementRow
from cloud.errors import ConflictError, InvalidError
from cloud.finance import (
    alipay_bill,
    alipay_sign,
    ledger,
    order_money,
    poster,
    reports,
    settlements,
)
from cloud.finance.bill_source import AlipayBills
from cloud.finance.cli import finance_app
from simulators import cli as sim_cli
from simulators.marketplace import bill as sim_bill
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Hub, Shop, make_hub, make_shop

D = Decimal
DAY = date(2026, 11, 11)
NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
HEADER = sim_bill.HEADER


@dataclass
class World:
    hub: Hub
    market: Market
    shop: Shop


@pytest.fixture
def world(engine: Engine) -> World:
    """A day of buyers on the simulator, downloaded into the hub and booked as paid."""
    hub = make_hub(engine)
    market = Market(seed=5)
    shop = make_shop(hub, market, "tb1")
    market.advance(86_400 + 120, 0.002)
    market.advance(900, 0.0)  # quiet: the download's window reaches the last change
    for _ in range(4):  # a run covers a bounded window: until caught up
        shop.run()
    poster.tick(hub.factory, datetime.now(UTC) + timedelta(minutes=1))
    return World(hub, market, shop)


def fetch(w: World, day: date = DAY) -> bytes:
    """The day's bill through the gateway: the download URL, then the zip."""
    form = {
        "method": sim_bill.METHOD,
        "app_id": "2021000000000000",
        "app_auth_token": "s-tb1",
        "biz_content": json.dumps({"bill_type": "signcustomer", "bill_date": day.isoformat()}),
    }
    answer = w.shop.http.post("http://sim/gateway.do", data=form).json()[sim_bill.RESPONSE]
    assert answer["code"] == "10000", answer
    r = w.shop.http.get(answer["bill_download_url"])
    assert r.status_code == 200
    return r.content


def orders(w: World) -> dict[str, SalesOrder]:
    with w.hub.factory() as s:
        rows = s.execute(select(SalesOrder).where(SalesOrder.account_id == w.hub.account_id))
        return {o.order_no: o for o in rows.scalars()}


def balance(s: Session, account_id: int, code: str) -> Decimal:
    return ledger.replayed_balances(s, account_id).get(code, D("0.00"))


def counts(w: World) -> tuple[int, int, int]:
    with w.hub.factory() as s:
        return (
            s.execute(select(func.count()).select_from(SettlementBill)).scalar_one(),
            s.execute(select(func.count()).select_from(SettlementRow)).scalar_one(),
            s.execute(select(func.count()).select_from(FinEntry)).scalar_one(),
        )


def do_import(w: World, data: bytes, name: str = "bill.zip") -> settlements.Imported:
    with transaction(w.hub.factory) as s:
        return settlements.import_bill(s, w.hub.account_id, data, name, "test", NOW)


def csv(rows: list[list[str]], *, footer: bool = True, header: str = HEADER) -> bytes:
    """A hand-made 账务明细 like Alipay's (GBK, CRLF, comment lines, totals)."""
    ins = [_d(r[6]) for r in rows if r[6:7] and r[6]]
    outs = [_d(r[7]) for r in rows if r[7:8] and r[7]]
    lines = [
        "#支付宝账务明细查询",
        "#账号：[2088000000000001]",
        "#起始日期：[2026年11月12日 00:00:00]   终止日期：[2026年11月13日 00:00:00]",
        "#-----------------------------------------账务明细列表---------------------------",
        header,
        *(",".join(r) for r in rows),
    ]
    if footer:
        lines += [
            "#-----------------------------------------账务明细列表结束-----------------------",
            f"#收入合计：{len(ins)}笔，共{sum(ins, D('0.00')):.2f}元",
            f"#支出合计：{len(outs)}笔，共{sum(outs, D('0.00')):.2f}元",
        ]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def _d(text: str) -> Decimal:
    try:
        return abs(D(text))
    except ArithmeticError:  # the bad amounts of the tests: the footer says 0
        return D("0.00")


def row(flow: str, order: str, amount_in: str, amount_out: str, bal: str, kind: str) -> list[str]:
    return [
        f"{flow}\t",
        "",
        f"T200P{order}\t",
        "商品",
        "2026-11-12 10:00:00",
        "buyer***",
        amount_in,
        amount_out,
        bal,
        "",
        kind,
        "",
    ]


def test_a_simulator_bill_settles_every_order_it_names(world: World) -> None:
    w = world
    data = fetch(w)
    assert data[:4] == b"PK\x03\x04"
    parsed = alipay_bill.parse(data)
    sales = [
        r
        for r in parsed.rows
        if settlements.classify(r.business_type, r.remark, r.amount_in) == "sale"
    ]
    assert len(sales) >= 10, len(sales)
    mine = orders(w)
    assert {r.merchant_order_no.removeprefix("T200P") for r in sales} <= set(mine)

    got = do_import(w, data)
    assert (got.rows, got.unmatched) == (len(parsed.rows), 0)
    with w.hub.factory() as s:
        head, rows = settlements.bill(s, w.hub.account_id, got.bill_id)
        assert {r.state for r in rows} <= {"posted", "suspense"}
        kinds = {r.kind for r in rows}
        assert {"sale", "commission", "fee"} <= kinds, kinds
        matched = [r.order_no for r in rows if r.kind == "sale"]
        assert len(matched) == len(set(matched)) == len(sales)  # each order once
        # Each posted row is its own entry, found again by its natural key.
        assert len({r.entry_id for r in rows}) == len(rows)
        # The bill's balance change is what the books' Alipay account moved.
        assert balance(s, w.hub.account_id, "1012.01") == head.closing - head.opening
        # Every settled order's clearing is 0.00: what is left on 1122.taobao is exactly
        # the orders booked paid and not (yet) in a bill.
        settled = set(matched)
        open_ = sum((D(o.total_cents) / 100 for n, o in mine.items() if n not in settled), D(0))
        assert balance(s, w.hub.account_id, "1122.taobao") == open_
        tb = reports.trial_balance(s, w.hub.account_id, "2026-11")
        assert tb.balanced and tb.debit == tb.credit


def test_the_same_file_twice_is_refused_and_nothing_doubles(world: World) -> None:
    w = world
    data = fetch(w)
    do_import(w, data)
    before = counts(w)
    with pytest.raises(ConflictError, match="imported already"):
        do_import(w, data, "again.zip")
    # The CSV alone (other bytes, same rows): refused by the rows' 账务流水号.
    detail = alipay_bill.csv_of(data)
    with pytest.raises(ConflictError, match="账务流水号"):
        do_import(w, detail, "bill.csv")
    assert counts(w) == before
    with w.hub.factory() as s:
        assert settlements.match_again(s, w.hub.account_id, NOW) == 0


def test_an_unknown_order_is_listed_with_a_sentence_and_not_posted(world: World) -> None:
    w = world
    known = sorted(orders(w).items())[0]
    total = f"{D(known[1].total_cents) / 100:.2f}"
    opening = D("100.00")
    b1 = opening + D(total)
    b2 = b1 + D("55.00")
    data = csv(
        [
            row("91001", known[0], total, "", f"{b1:.2f}", "在线支付"),
            row("91002", "3999999999", "55.00", "", f"{b2:.2f}", "在线支付"),
            row("91003", "", "", "-5.00", f"{b2 - 5:.2f}", "其他"),
        ]
    )
    got = do_import(w, data, "hand.csv")
    assert (got.rows, got.posted, got.unmatched) == (3, 1, 2)
    with w.hub.factory() as s:
        listed = settlements.unmatched(s, w.hub.account_id)
        said = {r.flow_no: settlements.reason_text(r.reason) for r in listed}
        assert said["91002"].startswith("no order 3999999999 in the hub"), said
        assert "其他" in said["91003"]
        assert all(r.entry_id is None for r in listed)
        # The known order's sale is posted: its clearing is back to 0.00 for that order.
        entry = s.execute(select(FinEntry).where(FinEntry.source_doc == "91001")).scalar_one()
        assert entry.event_kind == "settle_sale"
    # The same order's sale in another bill: listed as settled already, not posted twice.
    again = csv([row("91004", known[0], total, "", f"{D(total) + 1:.2f}", "在线支付")])
    got = do_import(w, again, "hand2.csv")
    assert got.unmatched == 1
    with w.hub.factory() as s:
        r = s.execute(select(SettlementRow).where(SettlementRow.flow_no == "91004")).scalar_one()
        assert "settled already" in settlements.reason_text(r.reason)


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (
            csv([row("1", "1", '"12,00"', "", "12.00", "在线支付")]),
            "line 6: 收入金额（+元） '12,00' is not an amount",
        ),
        (
            csv([row("1", "1", "1.001", "", "12.00", "在线支付")]),
            "is not an amount",
        ),
        (
            csv(
                [
                    row("1", "1", "12.00", "", "12.00", "在线支付"),
                    row("2", "1", "1.00", "", "14.00", "在线支付"),
                ]
            ),
            "line 7: the balance 14.00 is not the one before",
        ),
        (
            csv(
                [row("1", "1", "12.00", "", "12.00", "在线支付")],
                header=HEADER.replace("账户余额（元）,", ""),
            ),
            "no column 账户余额（元）",
        ),
        (
            csv([row("1", "1", "12.00", "", "12.00", "在线支付")], footer=False),
            "cut short",
        ),
        (
            csv([row("1", "1", "12.00", "", "12.00", "在线支付")]).replace(
                "共12.00元".encode("gbk"), "共13.00元".encode("gbk")
            ),
            "the footer says 收入 1 rows, 13.00",
        ),
        (
            csv([row("1", "1", "12.00", "", "12.00", "在线支付")]).decode("gbk").encode("utf-16"),
            "not GBK-encoded",
        ),
        (
            csv([row("1", "1", "12.00", "", "12.00", "在线支付")[:5]]),
            "line 6: 5 cells where the header has 12",
        ),
        (
            csv([row("1", "1", "12.00", "", "12.00", "在线支付")]).replace(
                b"2026-11-12 10", b"2026/11/12 10"
            ),
            "发生时间",
        ),
        (b"PK\x03\x04 not really a zip", "cannot be opened"),
    ],
)
def test_a_bad_bill_is_refused_with_its_line_and_nothing_stored(
    world: World, data: bytes, sentence: str
) -> None:
    before = counts(world)
    with pytest.raises(InvalidError) as err:
        do_import(world, data, "bad.csv")
    assert sentence in str(err.value)
    assert counts(world) == before


def test_a_day_not_over_has_no_bill_yet(world: World) -> None:
    form = {
        "method": sim_bill.METHOD,
        "biz_content": json.dumps({"bill_type": "signcustomer", "bill_date": "2026-11-12"}),
    }
    answer = world.shop.http.post("http://sim/gateway.do", data=form).json()[sim_bill.RESPONSE]
    assert (answer["code"], answer["sub_code"]) == ("40004", "isp.bill_not_exist")
    # The same day's bill is the same bytes every time, and its closing is the next opening.
    assert fetch(world) == fetch(world)


def test_the_bill_through_the_commands(world: World, db_url: str, tmp_path: Path) -> None:
    """``guanjia sim marketplace-bill`` fetches it from a running simulator over HTTP;
    ``guanjia finance settlement import|show|match-again`` import and show it."""
    server = serve(MarketplaceApp(world.market), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "bill.csv"
        run = CliRunner().invoke(
            sim_cli.app,
            [
                "sim",
                "marketplace-bill",
                "--date",
                "2026-11-11",
                "--output",
                str(out),
                "--url",
                f"http://127.0.0.1:{server.server_port}",
                "--session",
                "s-tb1",
                "--csv",
            ],
        )
        assert run.exit_code == 0, run.output
        early = CliRunner().invoke(
            sim_cli.app,
            [
                "sim",
                "marketplace-bill",
                "--date",
                "2026-11-13",
                "--output",
                str(out) + "x",
                "--url",
                f"http://127.0.0.1:{server.server_port}",
                "--session",
                "s-tb1",
            ],
        )
        assert early.exit_code == 1 and "isp.bill_not_exist" in early.output
    finally:
        server.shutdown()
    assert out.read_bytes().decode("gbk").startswith("#支付宝账务明细查询")
    db = ["--account", "seller", "--database-url", db_url]
    run = CliRunner().invoke(finance_app, ["settlement", "import", str(out), *db])
    assert run.exit_code == 0, run.output
    assert re.search(r"bill \S+: \d+ rows, \d+ posted, \d+ to suspense, 0 unmatched", run.output)
    again = CliRunner().invoke(finance_app, ["settlement", "import", str(out), *db])
    assert again.exit_code == 1 and "imported already" in again.output
    listing = CliRunner().invoke(finance_app, ["settlement", "show", *db])
    assert "bill.csv" in listing.output
    bill_id = listing.output.split()[0]
    rows = CliRunner().invoke(finance_app, ["settlement", "show", "--bill", bill_id, *db])
    assert rows.exit_code == 0 and " sale " in rows.output and "posted" in rows.output
    nothing = CliRunner().invoke(finance_app, ["settlement", "match-again", *db])
    assert nothing.output.strip() == "0 rows posted"
    # The hub fetching the day itself (the Alipay adapter): the zip's rows are those of
    # the CSV imported above, so it is refused whole and nothing is posted twice.
    server = serve(MarketplaceApp(world.market), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway = f"http://127.0.0.1:{server.server_port}/gateway.do"
        args = ["--gateway", gateway, "--auth-token", "s-tb1", *db]
        run = CliRunner().invoke(
            finance_app, ["settlement", "fetch", "--date", "2026-11-11", *args]
        )
        assert run.exit_code == 1 and "were imported already" in run.output, run.output
        run = CliRunner().invoke(
            finance_app, ["settlement", "fetch", "--date", "2026-11-13", *args]
        )
        assert run.exit_code == 1 and "isp.bill_not_exist" in run.output, run.output
        # Verified with the simulator's public key (as Alipay's is given): the same answers.
        public = tmp_path / "alipay_public.pem"
        with httpx.Client() as http:
            got = http.get(f"http://127.0.0.1:{server.server_port}/_sim/alipay-public-key")
        public.write_bytes(got.content)
        run = CliRunner().invoke(
            finance_app,
            [
                "settlement",
                "fetch",
                "--date",
                "2026-11-11",
                "--alipay-public-key",
                str(public),
                *args,
            ],
        )
        assert run.exit_code == 1 and "were imported already" in run.output, run.output
        other = tmp_path / "other.pem"
        other.write_bytes(_public_pem(_key()))
        run = CliRunner().invoke(
            finance_app,
            [
                "settlement",
                "fetch",
                "--date",
                "2026-11-11",
                "--alipay-public-key",
                str(other),
                *args,
            ],
        )
        assert run.exit_code == 1 and "not trusted" in run.output, run.output
        app_key = tmp_path / "app.pem"
        app_key.write_bytes(_private_pem(_key()))
        run = CliRunner().invoke(
            finance_app,
            ["settlement", "fetch", "--date", "2026-11-11", "--private-key", str(app_key), *args],
        )
        assert run.exit_code == 1 and "give Alipay's public key" in run.output, run.output
    finally:
        server.shutdown()


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_alipays_answers_are_verified_and_a_tampered_one_is_refused(world: World) -> None:
    """Alipay signs its answers (RSA2 with its key over the ``…_response`` node's text as
    written): with Alipay's public key the adapter acts only on an answer that checks out.
    A changed download address, a removed or foreign signature: refused (409), the file
    never asked for; a signed refusal is reported as Alipay's sentence."""
    http, gw, app = world.shop.http, "http://sim/gateway.do", "2021000000000000"
    alipay = http.get("http://sim/_sim/alipay-public-key").content
    source = AlipayBills(http, gw, app, "s-tb1", alipay_public_key=alipay)
    assert source.fetch(DAY) == fetch(world)
    with pytest.raises(InvalidError, match=r"isp\.bill_not_exist"):
        source.fetch(date(2026, 11, 13))  # a signed refusal: Alipay's own sentence
    downloads: list[str] = []

    def tampering(change: Callable[[str], str]) -> httpx.Client:
        def handle(request: httpx.Request) -> httpx.Response:
            r = http.request(
                request.method, str(request.url), content=request.content, headers=request.headers
            )
            if request.url.path == "/gateway.do":
                return httpx.Response(r.status_code, headers=r.headers, text=change(r.text))
            downloads.append(str(request.url))
            return httpx.Response(r.status_code, headers=r.headers, content=r.content)

        return httpx.Client(transport=httpx.MockTransport(handle))

    forged = "http://elsewhere/downloadBillFile.resource"
    for change in (
        lambda body: body.replace("http://sim/downloadBillFile.resource", forged),
        lambda body: re.sub(r',"sign":"[^"]*"', "", body),
        lambda body: re.sub(r'"sign":"[^"]*"', '"sign":"' + "A" * 344 + '"', body),
    ):
        with pytest.raises(alipay_sign.Unverified, match="not trusted"):
            AlipayBills(tampering(change), gw, app, "s-tb1", alipay_public_key=alipay).fetch(DAY)
    assert downloads == []
    # Untouched through the same wrapper: fetched.
    plain = AlipayBills(tampering(lambda b: b), gw, app, "s-tb1", alipay_public_key=alipay)
    assert plain.fetch(DAY) == fetch(world) and len(downloads) == 1
    # Another key than Alipay's: nothing checks out.
    other = AlipayBills(http, gw, app, "s-tb1", alipay_public_key=_public_pem(_key()))
    with pytest.raises(alipay_sign.Unverified):
        other.fetch(DAY)
    with pytest.raises(InvalidError, match="give Alipay's public key"):
        AlipayBills(http, gw, app, "s-tb1", signer=alipay_sign.signer(_private_pem(_key())))
    with pytest.raises(InvalidError, match="no PEM public key"):
        AlipayBills(http, gw, app, alipay_public_key=b"nope")
    # An escaped slash the signature was made without (Alipay's SDKs accept it): accepted,
    # and nothing else is.
    key = _key()
    node = '{"code":"10000","bill_download_url":"http://x/a"}'
    raw = key.sign(node.encode(), padding.PKCS1v15(), hashes.SHA256())
    signed = base64.b64encode(raw).decode()
    escaped = node.replace("/", "\\/")
    body = f'{{"m_response":{escaped},"sign":"{signed}"}}'
    got = alipay_sign.verified_answer(
        alipay_sign.load_public_key(_public_pem(key)), body, "m_response"
    )
    assert got["bill_download_url"] == "http://x/a"
    with pytest.raises(alipay_sign.Unverified):
        alipay_sign.verified_answer(
            alipay_sign.load_public_key(_public_pem(key)),
            body.replace("x\\/a", "y\\/a"),
            "m_response",
        )
    # The node is found by reading the JSON, not by searching for its name.
    text = '{"x_response" : {"code":"10000","a":"\\"sign\\":1,}"} ,"sign":"s"}'
    assert alipay_sign.signed_node(text) == (
        "x_response",
        '{"code":"10000","a":"\\"sign\\":1,}"}',
        "s",
    )


def test_a_bill_before_its_orders_is_listed_then_matched_again(engine: Engine) -> None:
    """The bill arrives before the shop's orders were downloaded: its sales are listed
    (no order), commission and fees posted; after the download, match-again posts each
    sale once, and a second match-again posts nothing."""
    hub = make_hub(engine)
    market = Market(seed=5)
    shop = make_shop(hub, market, "tb1")
    market.advance(86_400 + 120, 0.002)
    market.advance(900, 0.0)
    w = World(hub, market, shop)
    got = do_import(w, fetch(w))
    with hub.factory() as s:
        head, rows = settlements.bill(s, hub.account_id, got.bill_id)
        sales = [r for r in rows if r.kind == "sale"]
        assert sales and all(r.state == "unmatched" for r in sales)
        assert got.unmatched == len(sales)
        assert "in the hub" in settlements.reason_text(sales[0].reason)
    for _ in range(4):
        shop.run()
    poster.tick(hub.factory, datetime.now(UTC) + timedelta(minutes=1))
    with transaction(hub.factory) as s:
        assert settlements.match_again(s, hub.account_id, NOW) == len(sales)
    with transaction(hub.factory) as s:
        assert settlements.match_again(s, hub.account_id, NOW) == 0
    mine = orders(w)
    with hub.factory() as s:
        head, rows = settlements.bill(s, hub.account_id, got.bill_id)
        assert (head.unmatched, head.posted) == (0, len(rows))
        assert balance(s, hub.account_id, "1012.01") == head.closing - head.opening
        settled = {r.order_no for r in rows if r.kind == "sale"}
        open_ = sum((D(o.total_cents) / 100 for n, o in mine.items() if n not in settled), D(0))
        assert balance(s, hub.account_id, "1122.taobao") == open_


def test_refunds_deposits_compensation_and_a_sale_paid_in_parts(world: World) -> None:
    w = world
    (no, o), (no2, o2) = sorted(orders(w).items())[:2]
    total = D(o.total_cents) / 100
    half = (total / 2).quantize(D("0.01"))
    # The second order paid out in two parts (sub-orders confirmed one by one), then a
    # third row that would settle more than the order: listed, not posted.
    total2 = D(o2.total_cents) / 100
    part = (total2 / 3).quantize(D("0.01"))
    b = [total]
    steps = (-half, -total, D("-100.00"), D("-9.99"), D("100.00"), part, total2 - part, D("0.01"))
    for step in steps:
        b.append(b[-1] + step)
    data = csv(
        [
            row("R1", no, f"{total:.2f}", "", f"{b[0]:.2f}", "在线支付"),
            row("R2", no, "", f"{-half:.2f}", f"{b[1]:.2f}", "交易退款"),
            row("R3", no, "", f"{-total:.2f}", f"{b[2]:.2f}", "交易退款"),
            row("R4", "", "", "-100.00", f"{b[3]:.2f}", "保证金"),
            row("R5", no, "", "-9.99", f"{b[4]:.2f}", "赔付"),
            row("R6", "", "100.00", "", f"{b[5]:.2f}", "保证金"),
            row("P1", no2, f"{part:.2f}", "", f"{b[6]:.2f}", "交易收款"),
            row("P2", no2, f"{total2 - part:.2f}", "", f"{b[7]:.2f}", "交易收款"),
            row("P3", no2, "0.01", "", f"{b[8]:.2f}", "交易收款"),
        ]
    )
    do_import(w, data, "refunds.csv")
    with w.hub.factory() as s:
        got = {
            r.flow_no: (r.kind, r.state, r.match_key)
            for r in s.execute(select(SettlementRow)).scalars()
        }
        assert got == {
            "R1": ("sale", "posted", f"sale:{no}"),
            "R2": ("refund", "posted", None),
            "R3": ("refund", "unmatched", None),  # more than what is left of the order
            "R4": ("margin", "suspense", None),
            "R5": ("chargeback", "suspense", None),
            "R6": ("margin", "suspense", None),
            "P1": ("sale", "posted", f"sale:{no2}#1"),
            "P2": ("sale", "posted", f"sale:{no2}#2"),
            "P3": ("sale", "unmatched", None),  # the order is settled whole already
        }
        books = ledger.replayed_balances(s, w.hub.account_id)
        assert books["1901"] == D("9.99")  # the deposit came back; the compensation waits
        assert books["1012.01"] == total - half - D("9.99") + total2
        # Both parts settled the order's escrow: its money says so.
        money2 = order_money.money_of(s, w.hub.account_id, no2)
        assert money2.settled == total2 == money2.paid
    # A part in a later bill beyond what is left is listed with the sentence, not posted.
    late = csv([row("P4", no2, "5.00", "", "1005.00", "交易收款")])
    do_import(w, late, "late.csv")
    with w.hub.factory() as s:
        p4 = s.execute(select(SettlementRow).where(SettlementRow.flow_no == "P4")).scalar_one()
        assert p4.state == "unmatched" and "settled already" in str(p4.reason)


def test_the_alipay_adapter_fetches_a_day_and_a_second_fetch_posts_nothing(world: World) -> None:
    source = AlipayBills(world.shop.http, "http://sim/gateway.do", "2021000000000000", "s-tb1")
    data = source.fetch(DAY)
    assert data == fetch(world)  # what the gateway and the download serve
    got = do_import(world, data)
    before = counts(world)
    with pytest.raises(ConflictError, match="imported already"):
        do_import(world, source.fetch(DAY))
    assert counts(world) == before and got.unmatched == 0
    with pytest.raises(InvalidError, match=r"isp\.bill_not_exist"):
        source.fetch(date(2026, 11, 13))
    broken = AlipayBills(world.shop.http, "http://sim/nowhere", "x")
    with pytest.raises(ConflictError, match="no bill address"):
        broken.fetch(DAY)

    # RSA2: an app whose public key the gateway holds must sign; unsigned or signed with
    # another key is Alipay's isv.invalid-signature; signed with its key, the bill comes.
    expected = data
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]
    pems = [
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for k in keys
    ]
    world.market.alipay_keys["2021000000000000"] = (
        keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    http, gw, app = world.shop.http, "http://sim/gateway.do", "2021000000000000"
    alipay = http.get("http://sim/_sim/alipay-public-key").content  # the "Alipay" key
    for signer in (None, alipay_sign.signer(pems[1])):
        with pytest.raises(InvalidError, match=r"isv\.invalid-signature"):
            AlipayBills(http, gw, app, "s-tb1", signer=signer, alipay_public_key=alipay).fetch(DAY)
    sign = alipay_sign.signer(pems[0])
    got = AlipayBills(http, gw, app, "s-tb1", signer=sign, alipay_public_key=alipay).fetch(DAY)
    assert got == expected
    # Deterministic (PKCS#1 v1.5): a retry carries the same signature; it checks out.
    public = world.market.alipay_keys[app]
    assert sign("a=1&b=2") == sign("a=1&b=2")
    assert alipay_sign.verify(public, "a=1&b=2", sign("a=1&b=2"))
    assert not alipay_sign.verify(public, "a=1&b=3", sign("a=1&b=2"))
    with pytest.raises(InvalidError, match="no unencrypted PEM private key"):
        alipay_sign.signer(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
