"""The checks every platform bill reader shares (issue 18): Alipay's 账务明细
(cloud/finance/alipay_bill.py), WeChat Pay's 交易账单 (cloud/finance/wechat_bill.py) and its
资金账单 (cloud/finance/wechat_fundflow.py).

One place for what each reader did on its own before: the file's size and its unpacking
(gzip as WeChat Pay's ``tar_type=GZIP`` answers it), its text (UTF-8 or GBK), the backtick
WeChat Pay puts before every value, an amount of whole cents named by its line and column,
a flow number that occurs twice, a balance chain that does not add up, and a summary or
footer total other than the rows'. Each raises :class:`InvalidError` with the line at fault,
before anything is stored.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterable, Sequence
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
