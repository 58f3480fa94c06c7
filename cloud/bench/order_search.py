"""p50 / p95 of the order list's domain read (``views.page``, 50 rows) for the searches and
filters of issues 15 and 20, over a database seeded by ``seed_volume`` (100,000 orders):

    python -m cloud.bench.order_search sqlite:///web_100000_10000_50.db [runs]

The keywords are those ``seed_volume`` writes (order numbers TB2026…, nicks buyerN, phones
138…); docs/benchmarks.md "Order search and filters" has the figures.
"""

from __future__ import annotations

import statistics
import sys
import time

from sqlalchemy import select

from cloud.db.engine import make_engine, session_factory
from cloud.db.models import Account, SalesOrder
from cloud.orders import views
from cloud.orders.views import OrderFilter


def cases(phone: str, order_no: str) -> dict[str, OrderFilter]:
    return {
        "list": OrderFilter(),
        "phone whole": OrderFilter(q=phone),
        "phone last 4": OrderFilter(q=phone[-4:]),
        "order no": OrderFilter(q=order_no[2:]),
        "order no part": OrderFilter(q=order_no[-7:]),
        "2 characters": OrderFilter(q="r8"),
        "2 Chinese characters": OrderFilter(q="张三"),
        "two keywords, one common": OrderFilter(q=f"buyer1 {order_no}"),
        "two common keywords": OrderFilter(q="buyer1 r12"),
        "a shop with no orders": OrderFilter(shop="no-such-shop"),
        "shop + keyword": OrderFilter(shop="no-such-shop", q="buyer1"),
        'FTS syntax "a* NEAR OR': OrderFilter(q='"a* NEAR OR'),
    }


def main(url: str, runs: int = 20) -> None:
    sessions = session_factory(make_engine(url))
    with sessions() as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        phone, order_no = s.execute(
            select(SalesOrder.phone, SalesOrder.order_no)
            .where(SalesOrder.account_id == account, SalesOrder.order_no.like("TB%"))
            .order_by(SalesOrder.order_no)
            .offset(57859)
            .limit(1)
        ).one()
        for name, f in cases(str(phone), order_no).items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                rows = views.page(s, account, f, limit=50, offset=0)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"{name:28s} {len(rows):3d} rows  p50 {statistics.median(times):7.1f}  p95 {p95:7.1f} ms"
            )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20)
