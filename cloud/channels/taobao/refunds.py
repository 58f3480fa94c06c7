"""Taobao as a refund source: ``taobao.refunds.receive.get`` (the seller's received refunds).

Read as the trade list is (taobao/orders.py): a window of ``modified`` of at most a day, the
count first and then the pages from the last to the first (a refund changed while we page
leaves the window and the pages shift: paging backwards only repeats one). Its rows carry
every field asked, so no second read per refund. Money is text and parsed as ``Decimal``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.channels.ids import digits
from cloud.channels.intake import Unusable, money
from cloud.channels.ports import ChannelRefund, Refused
from cloud.channels.taobao.client import TopClient, parse_top_time, top_time

FIELDS = (
    "refund_id,tid,oid,status,modified,created,refund_fee,total_fee,payment,refund_phase,"
    "good_status,has_good_return,num,title,reason,refund_version"
)


class TaobaoRefunds:
    max_span = timedelta(days=1)

    def __init__(self, client: TopClient, *, page_size: int = 100) -> None:
        self.client, self.page_size = client, page_size

    @property
    def calls(self) -> int:
        return self.client.calls

    def refunds(self, start: datetime, end: datetime) -> tuple[list[ChannelRefund], int]:
        if end - start > self.max_span:
            raise ValueError("a Taobao window spans at most one day")

        pages = 0

        def page(no: int) -> dict[str, Any]:
            nonlocal pages
            pages += 1
            return self.client.call(
                "taobao.refunds.receive.get",
                {
                    "fields": FIELDS,
                    "start_modified": top_time(start),
                    "end_modified": top_time(end),
                    "page_no": str(no),
                    "page_size": str(self.page_size),
                },
            )

        first = page(1)
        total = first.get("total_results")
        if not isinstance(total, int) or total < 0:
            raise Refused("refunds.receive.get gave no total_results")
        last = math.ceil(total / self.page_size)
        out: dict[str, ChannelRefund] = {}
        for no in range(last, 0, -1):
            # Page 1 again at the end when there are more: what moved up while we paged.
            for row in _rows(page(no) if no > 1 or last > 1 else first):
                r = _refund(row)
                had = out.get(r.refund_id)
                if had is None or r.modified >= had.modified:
                    out[r.refund_id] = r
        return list(out.values()), pages


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    wrapper = body.get("refunds") or {}
    rows = wrapper.get("refund", []) if isinstance(wrapper, dict) else []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Refused("refunds.receive.get: refunds.refund is not a list of objects")
    return rows


def _id(row: dict[str, Any], name: str) -> str:
    value = digits(row.get(name))
    if value is None:
        raise Refused(f"a refund without a usable {name}: {str(row.get(name))[:40]!r}")
    return value


def _refund(row: dict[str, Any]) -> ChannelRefund:
    try:
        fee = money(row.get("refund_fee"), "refund_fee")
    except Unusable as err:
        raise Refused(f"refund {row.get('refund_id')}: {err}") from None
    return ChannelRefund(
        refund_id=_id(row, "refund_id"),
        external_id=_id(row, "tid"),
        line_id=_id(row, "oid"),
        modified=parse_top_time(row.get("modified")).astimezone(UTC),
        status=str(row.get("status", ""))[:40],
        phase=str(row.get("refund_phase", ""))[:16],
        fee=fee,
        payload=row,
    )
