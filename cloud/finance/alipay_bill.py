"""Reading an Alipay account-flow bill (支付宝账务明细, bill type ``signcustomer``).

The file is what ``alipay.data.dataservice.bill.downloadurl.query`` points to: a zip holding
``<account>_<date>_账务明细.csv`` and a summary (``…(汇总).csv``), or that CSV on its own as
a seller downloads it from the Alipay site. The CSV is GBK-encoded, lines end in CRLF, and
the table sits between comment lines starting with ``#``: the title, ``#账号：[…]``, the
period ``#起始日期：[…] 终止日期：[…]``, a rule before the table and one after it
(``…账务明细列表结束…``), then the totals (``#收入合计：N笔，共X元``, ``#支出合计：…``) and
the export time. Values are padded with spaces or tabs (and sometimes a leading backquote,
so a spreadsheet keeps long numbers as text), which are not part of them. Column order is
not promised: columns are found by name in the header line. Sources: the Alipay open
platform's bill download page and public write-ups of the file (research/finance-einvoice.md;
the layout of the comment lines is as those show it, not verified against a live account).

Everything here is pure: bytes in, :class:`Bill` out, or an :class:`InvalidError` with the
line and the column at fault; nothing is stored before the whole file has been read.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from cloud.errors import N_, InvalidError
from cloud.finance import bill_checks
from cloud.finance.bill_checks import MAX_BYTES as MAX_BYTES

ZERO = Decimal("0.00")
#: Header names as Alipay writes them (full-width brackets) -> our field.
COLUMNS = {
    "账务流水号": "flow_no",
    "业务流水号": "business_no",
    "商户订单号": "merchant_order_no",
    "商品名称": "item_name",
    "发生时间": "occurred_at",
    "对方账号": "counterparty",
    "收入金额（+元）": "amount_in",
    "支出金额（-元）": "amount_out",
    "账户余额（元）": "balance",
    "交易渠道": "pay_channel",
    "业务类型": "business_type",
    "备注": "remark",
}
#: Columns a bill must have (the others are kept when present).
REQUIRED = (
    "账务流水号",
    "发生时间",
    "收入金额（+元）",
    "支出金额（-元）",
    "账户余额（元）",
    "业务类型",
)
_ACCOUNT = re.compile(r"账号[:：]\s*\[([^\]]*)\]")
_DAY = r"\[(\d{4})年(\d{1,2})月(\d{1,2})日"
_FROM = re.compile(r"起始日期[:：]\s*" + _DAY)
_TO = re.compile(r"终止日期[:：]\s*" + _DAY)
_TOTAL = re.compile(r"(收入|支出)合计[:：]\s*(\d+)\s*笔[,，]\s*共\s*(-?[\d.]+)\s*元")


@dataclass(frozen=True)
class Row:
    line_no: int
    flow_no: str
    business_no: str
    merchant_order_no: str
    item_name: str
    occurred_at: datetime  # China time, naive as written
    counterparty: str
    amount_in: Decimal
    amount_out: Decimal  # positive: what left the account
    balance: Decimal
    pay_channel: str
    business_type: str
    remark: str
    #: The row's kind when the bill says it outright (a WeChat Pay bill,
    #: cloud/finance/wechat_bill.py); None: classified from 业务类型 and 备注.
    kind: str | None = None

    @property
    def net(self) -> Decimal:
        return self.amount_in - self.amount_out


@dataclass(frozen=True)
class Bill(bill_checks.Balances):
    payment_account: str
    period_from: date | None
    period_to: date | None
    rows: tuple[Row, ...]


def csv_of(data: bytes) -> bytes:
    """The account-flow CSV of ``data``: the file itself, or the one in a bill's zip."""
    bill_checks.bounded(data)
    if not data.startswith(b"PK\x03\x04"):
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                if info.file_size > MAX_BYTES:
                    raise InvalidError(N_("the bill is larger than 20 MB"), "file")
                content = z.read(info)
                # The detail file, not the summary: found by its header, as member names
                # are GBK without the zip's UTF-8 flag and read back garbled.
                if "账务流水号".encode("gbk") in content:
                    return content
    except (
        zipfile.BadZipFile,
        ValueError,
        EOFError,
        OSError,
        zlib.error,
        NotImplementedError,
        RuntimeError,
    ):
        # A damaged zip fails in more ways than BadZipFile: a negative seek (a bad offset),
        # a cut deflate stream, an unknown method, an encrypted member (seen fuzzing, issue 19).
        raise InvalidError(N_("the file looks like a zip but cannot be opened"), "file") from None
    raise InvalidError(N_("the zip holds no account-flow bill (账务明细)"), "file")


def parse(data: bytes) -> Bill:
    """The bill in ``data`` (zip or CSV bytes); InvalidError naming the line at fault."""
    raw = csv_of(data)
    try:
        text = raw.decode("gbk")
    except UnicodeDecodeError as err:
        raise InvalidError(
            N_("the bill is not GBK-encoded text as Alipay writes it (byte %(at)s cannot be read)"),
            "file",
            at=err.start,
        ) from None
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    account, period_from, period_to = "", None, None
    header_at = None
    for i, line in enumerate(lines):
        if line.startswith("#"):
            if m := _ACCOUNT.search(line):
                account = m.group(1).strip()
            if m := _FROM.search(line):
                period_from = _day(m)
            if m := _TO.search(line):
                period_to = _day(m)
            continue
        if line.strip():
            header_at = i
            break
    if header_at is None:
        raise InvalidError(N_("the bill has no table: no header line was found"), "file")
    header = [_name(h) for h in next(csv.reader([lines[header_at]]))]
    where = bill_checks.columns(header, header_at + 1, REQUIRED, COLUMNS)
    rows: list[Row] = []
    totals: dict[str, tuple[int, Decimal]] = {}
    ended = False
    for i in range(header_at + 1, len(lines)):
        line, line_no = lines[i], i + 1
        if line.startswith("#"):
            if "结束" in line:
                ended = True
            if m := _TOTAL.search(line):
                totals[m.group(1)] = (int(m.group(2)), _amount(m.group(3), line_no, m.group(1)))
            continue
        if not line.strip():
            continue
        if ended:
            raise InvalidError(
                N_("line %(line)s: a row after the end of the table"), "file", line=line_no
            )
        rows.append(_row(bill_checks.cells(line), where, len(header), line_no))
    if not ended:
        raise InvalidError(
            N_("the bill ends before the line that closes its table: is the file cut short?"),
            "file",
        )
    bill = Bill(account, period_from, period_to, tuple(rows))
    check(bill, totals)
    return bill


def check(bill: Bill, totals: dict[str, tuple[int, Decimal]]) -> None:
    """Refuse a bill whose rows do not add up: each row's balance is the one before plus
    what it moved, so the rows sum to the day's balance change (closing − opening); and the
    footer's counts and totals, when there, are those of the rows (a file cut short or
    edited by hand fails one or the other)."""
    bill_checks.once(((r.line_no, r.flow_no) for r in bill.rows), "账务流水号")
    bill_checks.chained(bill.rows)
    total_in = sum((r.amount_in for r in bill.rows), ZERO)
    total_out = sum((r.amount_out for r in bill.rows), ZERO)
    count_in = sum(1 for r in bill.rows if r.amount_in)
    count_out = sum(1 for r in bill.rows if r.amount_out)
    for side, count, total in (("收入", count_in, total_in), ("支出", count_out, total_out)):
        said = totals.get(side)
        if said is not None and (said[0], abs(said[1])) != (count, total):
            raise InvalidError(
                N_(
                    "the footer says %(side)s %(said_count)s rows, %(said_total)s; the rows are "
                    "%(count)s, %(total)s"
                ),
                "file",
                side=side,
                said_count=said[0],
                said_total=abs(said[1]),
                count=count,
                total=total,
            )


def _name(header: str) -> str:
    return header.strip().strip("`").replace("(", "（").replace(")", "）")


def _day(m: re.Match[str]) -> date | None:
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _value(cells: list[str], where: dict[str, int], field: str) -> str:
    i = where.get(field)
    if i is None or i >= len(cells):
        return ""
    return cells[i]


def _amount(text: str, line_no: int, column: str) -> Decimal:
    return bill_checks.amount(text, line_no, column)


def _row(cells: list[str], where: dict[str, int], width: int, line_no: int) -> Row:
    # Cells after the last one a row needs may be missing (a trailing comma or not);
    # a row without all the columns a bill must have is broken.
    needed = max(where[COLUMNS[c]] for c in REQUIRED) + 1
    if len(cells) < needed:
        raise InvalidError(
            N_("line %(line)s: %(cells)s cells where the header has %(width)s"),
            "file",
            line=line_no,
            cells=len(cells),
            width=width,
        )

    def v(field: str) -> str:
        return _value(cells, where, field)

    flow_no = v("flow_no")
    if not flow_no or len(flow_no) > 64:
        raise InvalidError(
            N_("line %(line)s: 账务流水号 is empty or longer than 64 characters"),
            "file",
            line=line_no,
        )
    occurred = bill_checks.when(v("occurred_at"), line_no, "发生时间")
    amount_in = _amount(v("amount_in"), line_no, "收入金额（+元）")
    # Written with its minus sign (the header says -元); the amount that left is kept.
    amount_out = abs(_amount(v("amount_out"), line_no, "支出金额（-元）"))
    if amount_in < 0 or (amount_in == 0) == (amount_out == 0):
        raise InvalidError(
            N_(
                "line %(line)s: a row needs either an income or an expense, not %(in_)s and %(out)s"
            ),
            "file",
            line=line_no,
            in_=amount_in,
            out=amount_out,
        )
    balance_text = v("balance")
    if not balance_text:
        raise InvalidError(N_("line %(line)s: 账户余额（元） is empty"), "file", line=line_no)
    return Row(
        line_no=line_no,
        flow_no=flow_no,
        business_no=v("business_no")[:64],
        merchant_order_no=v("merchant_order_no")[:64],
        item_name=v("item_name")[:200],
        occurred_at=occurred,
        counterparty=v("counterparty")[:120],
        amount_in=amount_in,
        amount_out=amount_out,
        balance=_amount(balance_text, line_no, "账户余额（元）"),
        pay_channel=v("pay_channel")[:64],
        business_type=v("business_type")[:64],
        remark=v("remark")[:300],
    )
