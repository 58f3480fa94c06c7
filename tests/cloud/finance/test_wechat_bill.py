"""WeChat Pay trade bills (微信支付 交易账单) into the settlement import, both databases.

The marketplace simulator serves the shop's day as WeChat Pay's ``downloadbill`` does
(backticked values, a summary after the rows); the hub imports it like an Alipay bill:
each payment matches its order once and settles its escrow into 1012.02, fees go to
6603.01 (a refund's fee comes back), the same day again (the file, or its gzip) is
refused, an Alipay bill of the same orders afterwards settles nothing twice. Bad files are
refused with the line at fault and store nothing.
"""

from __future__ import annotations

import gzip
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cloud.db.settlement import SettlementBill, SettlementRow
from cloud.errors import ConflictError, InvalidError
from cloud.finance import ledger, wechat_bill
from cloud.finance.cli import finance_app
from simulators import cli as sim_cli
from simulators.marketplace import wechat_bill as sim_wechat
from simulators.marketplace.app import MarketplaceApp, serve
from tests.cloud.finance.test_settlements import (  # noqa: F401
    DAY,
    World,
    counts,
    do_import,
    fetch,
    orders,
    world,
)

D = Decimal


def wx(lines: list[list[str]], summary: list[str] | None = None) -> bytes:
    """A hand-made trade bill: the header, backticked lines, the summary (computed from the
    lines unless given)."""
    head = sim_wechat.HEADER.split(",")
    at = {name: i for i, name in enumerate(head)}
    out = [sim_wechat.HEADER]
    n, settle, refund, fee = 0, D("0.00"), D("0.00"), D("0.00")
    for cells in lines:
        out.append(",".join("`" + c for c in cells))
        if len(cells) == len(head):
            n += 1
            status = cells[at["交易状态"]]
            settle += _d(cells[at["应结订单金额"]]) if status == "SUCCESS" else 0
            refund += _d(cells[at["退款金额"]]) if status == "REFUND" else 0
            fee += _d(cells[at["手续费"]])
    out.append(sim_wechat.SUMMARY)
    totals = summary or [str(n), f"{settle:.2f}", f"{refund:.2f}", "0.00", f"{fee:.5f}"]
    if summary is None:
        totals += [f"{settle:.2f}", f"{refund:.2f}"]
    out.append(",".join("`" + c for c in totals))
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _d(text: str) -> Decimal:
    """A bad amount counts 0 in the computed summary (the row itself is what is refused)."""
    try:
        return D(text)
    except ArithmeticError:
        return D("0.00")


def line(
    tid: str,
    order_no: str,
    amount: str,
    fee: str,
    *,
    status: str = "SUCCESS",
    refund_id: str = "",
    refund: str = "0.00",
    at: str = "2026-11-11 10:00:00",
) -> list[str]:
    settle = amount if status == "SUCCESS" else "0.00"
    cells = [at, "wx2421b1c4370ec43b", "1900000109", "0", "", tid, order_no, "oUser", "JSAPI"]
    cells += [status, "OTHERS", "CNY", settle, "0.00", refund_id or "0", "0", refund, "0.00"]
    cells += ["", "", "商品", "", fee, "0.60%", amount, refund, ""]
    return cells


def download(w: World, day: str = "20261111") -> bytes:
    xml = f"<xml><bill_date>{day}</bill_date><bill_type>ALL</bill_type></xml>"
    r = w.shop.http.post("http://sim/pay/downloadbill", content=xml.encode())
    assert r.status_code == 200
    return r.content


def test_the_simulators_wechat_bill_settles_each_order_once(world: World) -> None:  # noqa: F811
    w = world
    data = download(w)
    assert data.startswith(sim_wechat.HEADER.encode()) and b"\n`" in data
    assert b"No Bill Exist" in download(w, "20261113")  # the day is not over
    bill = wechat_bill.parse(data)
    sales = [r for r in bill.rows if r.kind == "sale"]
    assert sales and all(r.flow_no.startswith("wx:42") for r in sales)
    got = do_import(w, data, "wx.csv")
    assert got.unmatched == 0 and got.posted == got.rows
    with w.hub.factory() as s:
        head = s.execute(
            select(SettlementBill).where(SettlementBill.id == got.bill_id)
        ).scalar_one()
        assert head.platform == "wechat" and head.opening == D("0.00")
        rows = list(
            s.execute(select(SettlementRow).where(SettlementRow.bill_id == got.bill_id)).scalars()
        )
        books = ledger.replayed_balances(s, w.hub.account_id)
    net = sum((r.amount_in - r.amount_out for r in rows), D("0.00"))
    assert books["1012.02"] == net == head.closing  # the bill's money, all of it, once
    assert "1012.01" not in books or books["1012.01"] == D("0.00")
    fees = sum((r.amount_out - r.amount_in for r in rows if r.kind == "fee"), D("0.00"))
    assert books["6603.01"] == fees > 0
    known = orders(w)
    for r in rows:
        if r.kind == "sale":
            total = D(known[str(r.order_no)].total_cents) / 100
            assert r.state == "posted" and r.amount_in == total
    # The same day again: the file, or its gzip (another hash, the same flow numbers).
    before = counts(w)
    with pytest.raises(ConflictError, match="imported already"):
        do_import(w, data, "wx.csv")
    with pytest.raises(ConflictError, match="were imported already"):
        do_import(w, gzip.compress(data), "wx.csv.gz")
    assert counts(w) == before
    # The same orders in an Alipay bill afterwards: listed "settled already", never posted.
    alipay = do_import(w, fetch(w), "alipay.zip")
    with w.hub.factory() as s:
        again = s.execute(
            select(SettlementRow.state, SettlementRow.reason).where(
                SettlementRow.bill_id == alipay.bill_id, SettlementRow.kind == "sale"
            )
        ).all()
        assert again and all(
            state == "unmatched" and "settled already" in str(why) for state, why in again
        )
        assert ledger.replayed_balances(s, w.hub.account_id)["1012.02"] == net


GOOD = [
    line("4200000001", "T1", "100.00", "0.60000"),
    line("4200000001", "T1", "100.00", "-0.06000", status="REFUND", refund_id="5030001",
         refund="10.00", at="2026-11-11 12:00:00"),
]  # fmt: skip


def test_a_good_hand_made_bill_reads_as_its_rows() -> None:
    bill = wechat_bill.parse(wx(GOOD))
    got = [(r.flow_no, r.kind, r.amount_in, r.amount_out, r.balance) for r in bill.rows]
    assert got == [
        ("wx:4200000001", "sale", D("100.00"), D("0.00"), D("100.00")),
        ("wx:4200000001:fee", "fee", D("0.00"), D("0.60"), D("99.40")),
        ("wx:5030001", "refund", D("0.00"), D("10.00"), D("89.40")),
        ("wx:5030001:fee", "fee", D("0.06"), D("0.00"), D("89.46")),
    ]
    assert bill.payment_account == "1900000109" and str(bill.period_from) == "2026-11-11"
    # GBK as a merchant platform's export may be, and gzip as tar_type=GZIP answers.
    gbk = wx(GOOD).decode("utf-8").encode("gbk")
    assert wechat_bill.parse(gbk).rows == bill.rows
    assert wechat_bill.parse(gzip.compress(wx(GOOD))).rows == bill.rows
    assert wechat_bill.looks_like(gzip.compress(wx(GOOD)))


def _bad(i: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in GOOD]
    rows[i][sim_wechat.HEADER.split(",").index(column)] = value
    return rows


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (wx(_bad(0, "应结订单金额", "1,000.00")), "line 2: 28 cells where the header has 27"),
        (wx(_bad(0, "应结订单金额", "100.001")), "line 2: 应结订单金额 '100.001' is not an amount"),
        (wx(_bad(0, "手续费", "0.60100")), "line 2: 手续费 '0.60100' is not whole cents"),
        (wx(_bad(0, "交易时间", "2026/11/11")), "line 2: 交易时间 '2026/11/11' is not a time"),
        (wx(_bad(1, "交易状态", "CLOSED")), "line 3: 交易状态 'CLOSED' is none of"),
        (wx(_bad(0, "货币种类", "USD")), "line 2: 货币种类 USD: only CNY"),
        (wx(_bad(1, "微信退款单号", "")), "line 3: 微信订单号 or 微信退款单号 is empty"),
        (wx([GOOD[0], GOOD[0]]), "line 3: 4200000001 occurs twice"),
        (wx([GOOD[0][:5]]), "line 2: 5 cells where the header has 27"),
        (wx(GOOD, ["2", "100.00", "10.00", "0.00", "0.50000", "100.00", "10.00"]),
         "the summary says 手续费总金额 0.50; the rows give 0.54"),
        (wx(GOOD, ["3", "100.00", "10.00", "0.00", "0.54000", "100.00", "10.00"]),
         "the summary says 总交易单数 3; the rows give 2"),
        (wx(GOOD, ["2", "90.00", "10.00", "0.00", "0.54000", "100.00", "10.00"]),
         "the summary says 应结订单总金额 90.00; the rows give 100.00"),
        (wx(GOOD).split(sim_wechat.SUMMARY.encode())[0], "ends before its summary"),
        (wx(GOOD) + b"\r\n`1,`2\r\n", "line 7: a line after the summary"),
        (wx(GOOD).replace("交易状态".encode(), "状态".encode()), "no column 交易状态"),
        ("交易时间,微信订单号\r\n".encode("utf-16"), "neither UTF-8 nor GBK"),
        (b"\x1f\x8b\x08\x00garbage", "looks like gzip but cannot be opened"),
    ],
)  # fmt: skip
def test_bad_wechat_bills_are_refused_with_the_line_at_fault(data: bytes, said: str) -> None:
    with pytest.raises(InvalidError) as err:
        wechat_bill.parse(data)
    assert said in str(err.value)


def test_a_bad_wechat_bill_stores_nothing(world: World) -> None:  # noqa: F811
    before = counts(world)
    bad = download(world).replace(b"`SUCCESS", b"`PAYERROR", 1)
    with pytest.raises(InvalidError, match="is none of SUCCESS, REFUND or REVOKED"):
        do_import(world, bad, "bad.csv")
    assert counts(world) == before


def test_the_wechat_bill_through_the_commands(
    world: World,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    """``guanjia sim marketplace-wechat-bill`` fetches the day from a running simulator;
    ``guanjia finance settlement import`` imports it once."""
    server = serve(MarketplaceApp(world.market), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "wx.csv"
    base = ["sim", "marketplace-wechat-bill", "--url", f"http://127.0.0.1:{server.server_port}"]
    try:
        run = CliRunner().invoke(sim_cli.app, [*base, "--date", "2026-11-11", "--output", str(out)])
        assert run.exit_code == 0, run.output
        early = CliRunner().invoke(
            sim_cli.app, [*base, "--date", "2026-11-13", "--output", str(tmp_path / "x")]
        )
        assert early.exit_code == 1 and "No Bill Exist 20002" in early.output
    finally:
        server.shutdown()
    assert out.read_bytes() == download(world)
    db = ["--account", "seller", "--database-url", db_url]
    run = CliRunner().invoke(finance_app, ["settlement", "import", str(out), *db])
    assert run.exit_code == 0 and ", 0 unmatched" in run.output, run.output
    again = CliRunner().invoke(finance_app, ["settlement", "import", str(out), *db])
    assert again.exit_code == 1 and "imported already" in again.output
