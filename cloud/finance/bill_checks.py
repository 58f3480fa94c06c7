"""The checks every platform bill reader shares (issue 18): Alipay's 账务明细
(cloud/finance/alipay_bill.py), WeChat Pay's 交易账单 (cloud/finance/wechat_bill.py) and its
资金账单 (cloud/finance/wechat_fundflow.py).

One place for what each reader did on its own before: the file's size and its unpacking
(gzip as WeChat Pay's ``tar_type=GZIP`` answers it), its text (UTF-8 or GBK), the backtick
WeChat Pay puts before every value, the header's columns found by name, a time as the bills
write it, an amount of whole cents named by its line and column, a flow number that occurs
twice, a balance chain that does not add up, and a summary or footer total other than the
rows'. Both WeChat Pay bills share one layout — a header, the rows, a summary header and its
line of totals, nothing after — read once by :func:`wechat_table`; each reader then makes
its own rows of the cells. Each check raises :class:`InvalidError` with the line at fault,
before anything is stored.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

from cloud.errors import N_, InvalidError
from cloud.finance.money import CENT, money

ZERO = Decimal("0.00")
#: The largest bill read (a day of a busy shop is a few MB).
MAX_BYTES = 20 << 20


class Chained(Protocol):
    """A bill row as the balance check needs it."""

    @property
    def line_no(self) -> int: ...

    @property
    def net(self) -> Decimal: ...

    @property
    def balance(self) -> Decimal: ...


class Balances:
    """A bill's balance before its first row (that row's balance less what it moved) and
    after its last one; 0.00 for a bill without rows."""

    rows: Sequence[Chained]

    @property
    def opening(self) -> Decimal:
        return self.rows[0].balance - self.rows[0].net if self.rows else ZERO

    @property
    def closing(self) -> Decimal:
        return self.rows[-1].balance if self.rows else ZERO


def bounded(data: bytes) -> bytes:
    if len(data) > MAX_BYTES:
        raise InvalidError(N_("the bill is larger than 20 MB"), "file")
    return data


def gunzipped(data: bytes) -> bytes:
    """``data`` itself, or what its gzip holds (at most :data:`MAX_BYTES`)."""
    bounded(data)
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(data, MAX_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile):
        raise InvalidError(N_("the file looks like gzip but cannot be opened"), "file") from None
    bounded(out)
    if not d.eof:  # a stream cut short decompresses to what it had, without an error
        raise InvalidError(N_("the file looks like gzip but cannot be opened"), "file")
    return out


def wechat_text(raw: bytes) -> str:
    """A WeChat Pay bill's text: UTF-8 as the API answers it, or GBK as an export may be."""
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidError(N_("the bill is neither UTF-8 nor GBK text as WeChat Pay writes it"), "file")


def cells(line: str) -> list[str]:
    """A line's values. WeChat Pay puts a backtick before every value so a spreadsheet
    keeps long numbers as text (pay.weixin.qq.com, "下载账单" 文件格式说明); Alipay pads
    with spaces, tabs and sometimes the backtick. None of it is part of the value."""
    return [c.strip().lstrip("`").strip() for c in next(csv.reader([line]), [])]


def amount(text: str, line_no: int, column: str, places: int = 2) -> Decimal:
    """An amount of whole cents (0.00 for an empty cell); ``places`` decimals may be written
    (WeChat Pay writes fees with five) as long as those past the cent are zeros."""
    if not text:
        return ZERO
    if places > 2 and "." in text and len(text.split(".")[1]) > 2:
        head, tail = text.split(".", 1)
        if tail[2:].strip("0") or not tail.isdigit():
            raise InvalidError(
                N_("line %(line)s: %(column)s %(value)r is not whole cents"),
                "file",
                line=line_no,
                column=column,
                value=text,
            )
        text = f"{head}.{tail[:2]}"
    try:
        return money(text, column).quantize(CENT)
    except InvalidError:
        raise InvalidError(
            N_("line %(line)s: %(column)s %(value)r is not an amount like 1234.56"),
            "file",
            line=line_no,
            column=column,
            value=text,
        ) from None


def once(keys: Iterable[tuple[int, str]], label: str = "") -> None:
    """Each (line, flow number) once: the second is refused, naming its line. ``label``
    (a column's name) goes before the number in the sentence."""
    seen: set[str] = set()
    for line_no, key in keys:
        if key in seen:
            raise InvalidError(
                N_("line %(line)s: %(flow_no)s occurs twice in the bill"),
                "file",
                line=line_no,
                flow_no=f"{label} {key}".strip(),
            )
        seen.add(key)


def chained(rows: Sequence[Chained]) -> None:
    """Each row's balance is the one before plus what it moved, so the rows sum to the
    balance change (closing − opening): a row left out or edited breaks the chain."""
    for before, row in pairwise(rows):
        if before.balance + row.net != row.balance:
            raise InvalidError(
                N_(
                    "line %(line)s: the balance %(balance)s is not the one before "
                    "(%(before)s) plus %(net)s: the rows do not sum to the balance change"
                ),
                "file",
                line=row.line_no,
                balance=row.balance,
                before=before.balance,
                net=row.net,
            )


def agrees(column: str, said: Decimal | None, got: Decimal) -> None:
    """A summary's figure (None: the bill does not give it) is the rows'."""
    if said is not None and said != got:
        raise InvalidError(
            N_("the summary says %(column)s %(said)s; the rows give %(got)s"),
            "file",
            column=column,
            said=said,
            got=got,
        )


def count(text: str, line_no: int, column: str) -> Decimal:
    """A count in a summary, written "12" or, in some exports, "12.0"."""
    try:
        n = Decimal(text)
    except ArithmeticError:
        n = Decimal("NaN")
    if not n.is_finite() or n != n.to_integral_value() or n < 0:
        raise InvalidError(
            N_("line %(line)s: %(column)s %(value)r is not a count"),
            "file",
            line=line_no,
            column=column,
            value=text,
        )
    return n.to_integral_value()


def columns(
    header: Sequence[str], line_no: int, required: Iterable[str], fields: Mapping[str, str]
) -> dict[str, int]:
    """Each field's cell by the header's names (``fields``: name -> field); a header
    without a column the bill must have is refused, naming them."""
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidError(
            N_("the bill has no column %(columns)s (line %(line)s is its header)"),
            "file",
            columns="、".join(missing),
            line=line_no,
        )
    return {fields[h]: i for i, h in enumerate(header) if h in fields}


def width(row: Sequence[str], header: int, line_no: int) -> None:
    """As many cells as the header: a value with a comma of its own (WeChat Pay writes
    none) would shift every column after it."""
    if len(row) != header:
        raise InvalidError(
            N_("line %(line)s: %(cells)s cells where the header has %(width)s"),
            "file",
            line=line_no,
            cells=len(row),
            width=header,
        )


def when(text: str, line_no: int, column: str) -> datetime:
    """A time as the bills write it (China time, naive)."""
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidError(
            N_("line %(line)s: %(column)s %(value)r is not a time like 2026-11-11 10:00:00"),
            "file",
            line=line_no,
            column=column,
            value=text,
        ) from None


@dataclass(frozen=True)
class Table:
    """A WeChat Pay bill as read: each field's cell, the rows' cells (as many as the
    header's) by line, and the summary's values by name with the line of its totals."""

    where: dict[str, int]
    rows: list[tuple[int, list[str]]]
    summary: dict[str, str]
    summary_line: int

    def figures(self, checked: Iterable[str], places: int = 2) -> dict[str, Decimal]:
        """The summary's figures that are ``checked``: a name ending in 金额 an amount
        (``places`` decimals may be written), any other a count."""
        wanted, out = set(checked), {}
        for name, value in self.summary.items():
            if name in wanted:
                out[name] = (
                    amount(value, self.summary_line, name, places)
                    if name.endswith("金额")
                    else count(value, self.summary_line, name)
                )
        return out


def wechat_table(
    data: bytes,
    fields: Mapping[str, str],
    required: Iterable[str],
    summary: str,
    rename: Callable[[str], str] = str,
) -> Table:
    """Read a WeChat Pay bill's layout (text or gzip; pay.weixin.qq.com "下载账单"
    文件格式说明): the first line its header (names through ``rename``), then the rows, then
    the summary header (its first cell ``summary``) and one line of totals, then nothing."""
    lines = wechat_text(gunzipped(data)).splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise InvalidError(N_("the bill has no table: no header line was found"), "file")
    header = [rename(h) for h in cells(lines[header_at])]
    where = columns(header, header_at + 1, required, fields)
    rows: list[tuple[int, list[str]]] = []
    for i in range(header_at + 1, len(lines)):
        line_no = i + 1
        if not lines[i].strip():
            continue
        row = cells(lines[i])
        if row[0] != summary:
            width(row, len(header), line_no)
            rows.append((line_no, row))
            continue
        if i + 1 >= len(lines) or not lines[i + 1].strip():
            raise InvalidError(
                N_("line %(line)s: the summary header has no line of totals after it"),
                "file",
                line=line_no,
            )
        values = cells(lines[i + 1])
        width(values, len(row), line_no + 1)
        extra = next((k for k in range(i + 2, len(lines)) if lines[k].strip()), None)
        if extra is not None:
            raise InvalidError(
                N_("line %(line)s: a line after the summary"), "file", line=extra + 1
            )
        return Table(where, rows, dict(zip(row, values, strict=True)), line_no + 1)
    raise InvalidError(
        N_("the bill ends before its summary (%(summary)s…): is the file cut short?"),
        "file",
        summary=summary,
    )
