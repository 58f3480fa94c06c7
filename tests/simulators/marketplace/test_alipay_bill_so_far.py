"""``GET /_sim/alipay-bill``: a shop's Alipay account-flow bill of the day so far (the demo
settles today's trades; Alipay itself serves a day only once it is over)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta

from simulators.marketplace import bill
from simulators.marketplace.clock import GMT8
from simulators.marketplace.market import Market

SESSION = "s-1"


def _world() -> tuple[Market, date]:
    market = Market(seed=5)
    market.add_shop("k", "secret", SESSION, "shop-nick")
    # To noon of a day (China time), buyers acting all along.
    day = datetime.fromtimestamp(market.now, GMT8).date() + timedelta(days=1)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=GMT8).timestamp()
    market.advance(noon - market.now, 0.01)
    return market, day


def _table(zip_body: bytes) -> tuple[list[str], list[list[str]]]:
    """The comment lines and the table's rows of the 账务明细 CSV in the zip."""
    with zipfile.ZipFile(io.BytesIO(zip_body)) as z:
        name = next(n for n in z.namelist() if n.endswith("_账务明细.csv"))
        text = z.read(name).decode("gbk")
    lines = text.split("\r\n")
    comments = [ln for ln in lines if ln.startswith("#")]
    body = [ln.split(",") for ln in lines if ln and not ln.startswith("#")][1:]
    return comments, body


def test_the_day_so_far_holds_the_rows_before_now_and_the_full_day_begins_with_them() -> None:
    market, day = _world()
    status, _ctype, body = bill.handle(
        market, "GET", "/_sim/alipay-bill", f"session={SESSION}&date={day}", b"", "http://sim"
    )
    assert status == 200
    comments, so_far = _table(body)
    assert so_far, "buyers paid in the morning: the bill has rows"
    stamps = [datetime.strptime(r[4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8) for r in so_far]
    assert all(s.date() == day and s.timestamp() <= market.now for s in stamps)
    # The end date in the header is the moment it was cut (noon), not the day's end.
    assert any("终止日期：[" + f"{day:%Y年%m月%d日} 12:00:00]" in c for c in comments), comments
    # Alipay's own path still has no bill for a day not over.
    assert (
        bill.handle(
            market,
            "GET",
            "/downloadBillFile.resource",
            f"userId={bill.account_of(market.shops[SESSION])}&bizDates={day:%Y%m%d}",
            b"",
            "http://sim",
        )[0]
        == 404
    )

    # Once the day is over, its full bill starts with the very same rows (flow numbers,
    # balances): a hub that imported the part refuses those rows again.
    market.advance(13 * 3600, 0.01)
    status, _ctype, full_zip = bill.handle(
        market,
        "GET",
        "/downloadBillFile.resource",
        f"userId={bill.account_of(market.shops[SESSION])}&bizDates={day:%Y%m%d}",
        b"",
        "http://sim",
    )
    assert status == 200
    _, full = _table(full_zip)
    assert full[: len(so_far)] == so_far
    assert len(full) > len(so_far)


def test_a_bad_request_for_the_day_so_far_is_refused_with_a_sentence() -> None:
    market, day = _world()

    def get(query: str) -> tuple[int, bytes]:
        status, _ctype, body = bill.handle(
            market, "GET", "/_sim/alipay-bill", query, b"", "http://sim"
        )
        return status, body

    assert get(f"session={SESSION}&date=2026-13-01") == (400, b"date is not yyyy-mm-dd")
    assert get(f"session=nobody&date={day}") == (404, b"no shop with that session")
    later = day + timedelta(days=2)
    assert get(f"session={SESSION}&date={later}") == (404, b"that day has not begun")
