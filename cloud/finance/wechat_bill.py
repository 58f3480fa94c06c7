"""Reading a WeChat Pay trade bill (微信支付 交易账单, bill type ``ALL``).

The file is what WeChat Pay's "下载交易账单" answers (``POST /pay/downloadbill``, or the v3
``tradebill`` download; plain text, or gzip with ``tar_type=GZIP``) and what a merchant
downloads from the merchant platform. Its shape (pay.weixin.qq.com, "交易账单详细说明";
research/finance-einvoice.md):

- a header line of column names, comma-separated (交易时间, 公众账号ID, 商户号, 特约商户号,
  设备号, 微信订单号, 商户订单号, 用户标识, 交易类型, 交易状态, 付款银行, 货币种类, 应结订单金额,
  代金券金额, 微信退款单号, 商户退款单号, 退款金额, 充值券退款金额, 退款类型, 退款状态, 商品名称,
  商户数据包, 手续费, 费率, 订单金额, 申请退款金额, 费率备注);
- one line per payment (交易状态 ``SUCCESS``) or refund (``REFUND``) of the day, every value
  prefixed by a backtick ````` so a spreadsheet keeps long numbers as text;
- a summary header (总交易单数, 应结订单总金额, 退款总金额, 充值券退款总金额, 手续费总金额,
  订单总金额, 申请退款总金额) and one line of totals, backticked too.

Columns are found by name. The fee (手续费) may be written with five decimals; it is
money of whole cents or the file is refused. A refund's fee is negative (the fee given
back).

Each line becomes the settlement rows the import posts (cloud/finance/settlements.py),
already classified: a payment is a ``sale`` of its 应结订单金额 (flow number ``wx:<微信订单号>``)
and a ``fee`` of its 手续费 (``wx:<微信订单号>:fee``); a refund a ``refund`` of its 退款金额
(``wx:<微信退款单号>``) and the fee given back (``…:fee``); a payment revoked (``REVOKED``) is
listed for a person, unposted. The bill has no balance column: the rows' balance is the
bill's running net from 0.00 (opening 0.00, closing = income − expense), so the check is
the summary's — the row count and the totals of the settlement amounts, refunds and fees
must be the rows' — not a balance chain.

Everything here is pure: bytes in, a :class:`~cloud.finance.alipay_bill.Bill` out, or an
:class:`InvalidError` naming the line and the column at fault.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from cloud.errors import N_, InvalidError
from cloud.finance import bill_checks
from cloud.finance.alipay_bill import Bill, Row

ZERO = Decimal("0.00")
#: Header names -> our field.
COLUMNS = {
    "交易时间": "at",
    "商户号": "mch_id",
    "微信订单号": "transaction_id",
    "商户订单号": "out_trade_no",
    "交易类型": "trade_type",
    "交易状态": "status",
    "付款银行": "bank",
    "货币种类": "currency",
    "应结订单金额": "settle",
    "微信退款单号": "refund_id",
    "商户退款单号": "out_refund_no",
    "退款金额": "refund",
    "商品名称": "item",
    "手续费": "fee",
}
REQUIRED = ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "手续费")
SUMMARY = "总交易单数"
#: Summary columns checked against the rows (the others are WeChat's own totals of
#: vouchers and requested amounts, which the rows' settlement amounts do not give).
CHECKED = {
    "总交易单数": "count",
    "应结订单总金额": "settle",
    "退款总金额": "refund",
    "手续费总金额": "fee",
}
STATUSES = ("SUCCESS", "REFUND", "REVOKED")


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is a WeChat Pay trade bill (its header names 微信订单号)."""
    head = bill_checks.gunzipped(data)[:4096]
    return "微信订单号".encode() in head or "微信订单号".encode("gbk") in head


def parse(data: bytes) -> Bill:
    """The bill in ``data`` (text or gzip); InvalidError naming the line at fault."""
    table = bill_checks.wechat_table(data, COLUMNS, REQUIRED, SUMMARY)
    rows: list[Row] = []
    sums = {"count": Decimal(0), "settle": ZERO, "refund": ZERO, "fee": ZERO}
    account = ""
    days: set[date] = set()
    for line_no, cells in table.rows:
        got = _line(cells, table.where, line_no)
        account = account or got.mch_id
        days.add(got.at.date())
        sums["count"] += 1
        sums["settle"] += got.settle if got.status == "SUCCESS" else ZERO
        sums["refund"] += got.refund if got.status == "REFUND" else ZERO
        sums["fee"] += got.fee
        rows.extend(got.rows(ZERO if not rows else rows[-1].balance))
    summary = table.figures(CHECKED, places=5)
    for name, key in CHECKED.items():
        bill_checks.agrees(name, summary.get(name), sums[key])
    bill_checks.once((r.line_no, r.flow_no.removeprefix("wx:")) for r in rows)
    return Bill(account, min(days, default=None), max(days, default=None), tuple(rows))


def _amount(text: str, line_no: int, column: str, places: int = 2) -> Decimal:
    """An amount of whole cents; ``places`` decimals may be written (fees: five)."""
    return bill_checks.amount(text, line_no, column, places)


class _Line:
    """One line of the bill, read."""

    def __init__(self, line_no: int, v: dict[str, str], at: datetime) -> None:
        self.line_no, self.v, self.at = line_no, v, at
        self.mch_id = v["mch_id"][:64]
        self.status = v["status"]
        self.settle = _amount(v["settle"], line_no, "应结订单金额")
        self.refund = _amount(v["refund"], line_no, "退款金额")
        self.fee = _amount(v["fee"], line_no, "手续费", 5)

    def rows(self, balance: Decimal) -> list[Row]:
        v, out = self.v, []
        if self.status == "SUCCESS":
            key, business = v["transaction_id"], "微信支付 交易"
            main = (self.settle, ZERO, "sale")
        elif self.status == "REFUND":
            key, business = v["refund_id"], "微信支付 退款"
            main = (ZERO, self.refund, "refund")
        else:
            key, business = v["transaction_id"], "微信支付 撤销"
            main = (ZERO, ZERO, "other")
        parts = [(f"wx:{key}", *main)]
        if self.fee:
            fee_in, fee_out = (-self.fee, ZERO) if self.fee < 0 else (ZERO, self.fee)
            parts.append((f"wx:{key}:fee", fee_in, fee_out, "fee"))
        for flow_no, amount_in, amount_out, kind in parts:
            balance += amount_in - amount_out
            out.append(
                Row(
                    line_no=self.line_no,
                    flow_no=flow_no,
                    business_no=v["transaction_id"][:64],
                    merchant_order_no=v["out_trade_no"][:64],
                    item_name=v["item"][:200],
                    occurred_at=self.at,
                    counterparty=v["bank"][:120],
                    amount_in=amount_in,
                    amount_out=amount_out,
                    balance=balance,
                    pay_channel=v["trade_type"][:64],
                    business_type=business + (" 手续费" if kind == "fee" else ""),
                    remark=(v["out_refund_no"] if self.status == "REFUND" else "")[:300],
                    kind=kind,
                )
            )
        return out


def _line(cells: list[str], where: dict[str, int], line_no: int) -> _Line:
    v = {f: cells[i] for f, i in where.items()}
    for f in COLUMNS.values():
        v.setdefault(f, "")
    at = bill_checks.when(v["at"], line_no, "交易时间")
    if v["status"] not in STATUSES:
        raise InvalidError(
            N_("line %(line)s: 交易状态 %(value)r is none of SUCCESS, REFUND or REVOKED"),
            "file",
            line=line_no,
            value=v["status"],
        )
    if v["currency"] not in ("", "CNY"):
        raise InvalidError(
            N_("line %(line)s: 货币种类 %(value)s: only CNY is booked"),
            "file",
            line=line_no,
            value=v["currency"],
        )
    key = v["refund_id"] if v["status"] == "REFUND" else v["transaction_id"]
    if not key or len(key) > 56:
        raise InvalidError(
            N_("line %(line)s: 微信订单号 or 微信退款单号 is empty or longer than 56 characters"),
            "file",
            line=line_no,
        )
    got = _Line(line_no, v, at)
    if got.settle < 0 or got.refund < 0:
        raise InvalidError(
            N_("line %(line)s: a negative 应结订单金额 or 退款金额"), "file", line=line_no
        )
    if got.status == "SUCCESS" and not got.settle:
        raise InvalidError(N_("line %(line)s: a payment of 0.00"), "file", line=line_no)
    if got.status == "REFUND" and not got.refund:
        raise InvalidError(N_("line %(line)s: a refund of 0.00"), "file", line=line_no)
    return got
