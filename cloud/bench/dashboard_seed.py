"""What the pages added after the first dashboard benchmark show, seeded for ``guanjia bench
dashboard`` (cloud/bench/dashboard.py) on top of ``seed_volume``'s orders and SKUs.

Volumes scale with the orders seeded, as in a seller's hub: one order in 20 released and
shipped (the books, the shipped trend and after-sales need shipped orders), one shipped order
in 5 with a return request, a transfer and a purchase order per 500 orders, 30 suppliers,
a task per 50 orders, serial sightings for the units received and packed. Everything goes
through the domain functions (release, ship, after-sales, transfers, purchase orders,
suppliers, tasks, the finance poster) except the serial sightings, which ingest writes from
edge facts and are inserted here in bulk as ingest would leave them. At 2,000 orders it adds
a few seconds to the seed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from cloud.db.engine import make_engine, session_factory, transaction
from cloud.errors import N_


def seed_pages(database_url: str, *, seed: int = 11) -> dict[str, str]:
    """Seed them in the demo seller's hub ``seed_volume`` filled; returns the documents the
    pages open (a transfer, a PO, an after-sales request, a serial, a shop)."""
    from cloud import tasks
    from cloud.aftersales import requests, workflow
    from cloud.channels import shops
    from cloud.db.models import Account, SalesOrder, SalesOrderLine, StockMovement
    from cloud.db.serials import SerialSighting
    from cloud.finance import events, poster
    from cloud.finance.chart import seed_chart
    from cloud.finance.postings import SupplierReceipt
    from cloud.inbound import orders as purchase_orders
    from cloud.inbound import suppliers, transfers
    from cloud.orders import release
    from cloud.orders import workflow as order_flow

    rnd = random.Random(seed)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    with sessions() as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        mine = select(SalesOrder.order_no).where(SalesOrder.account_id == account)
        n_orders = len(s.execute(mine).all())
        # One audited order in 20 across the two weeks, each shipped 6 hours after it came.
        audited = s.execute(
            select(SalesOrder.order_no, SalesOrder.created_at)
            .where(
                SalesOrder.account_id == account,
                SalesOrder.status == "audited",
                SalesOrder.on_hold.is_(False),
            )
            .order_by(SalesOrder.created_at, SalesOrder.id)
        ).all()
        ship = [(str(no), at) for no, at in audited[:: max(1, len(audited) * 20 // n_orders)]]
        asked = list(s.execute(mine.order_by(SalesOrder.id).limit(max(20, n_orders // 50))))
        skus = [
            str(c)
            for c in s.execute(select(SalesOrderLine.sku_code).distinct().limit(2000)).scalars()
        ]
    out: dict[str, str] = {}

    # Shipped orders, over the last two weeks: released to WH1 and collected.
    shipped: list[str] = []
    for start in range(0, len(ship), 200):
        with transaction(sessions) as s:
            for no, came in ship[start : start + 200]:
                at = min(now, came.replace(tzinfo=came.tzinfo or UTC) + timedelta(hours=3))
                release.release(s, account, no, "bench", at)
                order_flow.ship(s, account, no, "bench", min(now, at + timedelta(hours=3)))
                shipped.append(no)

    # Return requests for one shipped order in five, half of them approved.
    made: list[str] = []
    for start in range(0, len(shipped), 5 * 200):
        with transaction(sessions) as s:
            for no in shipped[start : start + 5 * 200 : 5]:
                line = s.execute(
                    select(SalesOrderLine.line_id)
                    .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
                    .where(SalesOrder.account_id == account, SalesOrder.order_no == no)
                    .limit(1)
                ).scalar_one()
                req, _ = requests.create(
                    s,
                    account,
                    no,
                    "return",
                    [requests.LineIn(str(line), 1)],
                    "bench",
                    now,
                    reason="不想要了",
                )
                if len(made) % 2:
                    workflow.approve(s, account, req.number, "bench", now, None)
                made.append(req.number)
    out["aftersales"] = made[0]

    # Suppliers, purchase orders and transfers WH1 → BCP.
    docs = max(10, n_orders // 500)
    with transaction(sessions) as s:
        for k in range(30):
            suppliers.create(s, account, f"SUP-{k:02d}", f"供应商{k:02d}", None, "bench", now)
    pos: list[str] = []
    moved: list[str] = []
    with transaction(sessions) as s:
        for k in range(docs):
            lines = rnd.sample(skus, min(len(skus), rnd.randint(1, 5)))
            number = f"PO-B{k:05d}"
            purchase_orders.create(
                s,
                account,
                number,
                "WH1",
                [purchase_orders.LineIn(c, rnd.randint(10, 200), Decimal("12.50")) for c in lines],
                "bench",
                now - timedelta(hours=k),
                supplier=f"SUP-{k % 30:02d}",
                confirm=k % 3 != 0,
            )
            pos.append(number)
        for k in range(docs):
            lines = rnd.sample(skus, min(len(skus), rnd.randint(1, 3)))
            number = f"TR-B{k:05d}"
            transfers.create(
                s,
                account,
                number,
                "same_price",
                "WH1",
                "BCP",
                [transfers.LineIn(c, rnd.randint(1, 3)) for c in lines],
                "bench",
                now - timedelta(hours=k),
                audit=k % 2 == 0,
            )
            moved.append(number)
    out["purchase_order"], out["transfer"] = pos[0], moved[0]

    # The human queue: weight holds, short picks, labels for another courier.
    with transaction(sessions) as s:
        for k, (no,) in enumerate(asked):
            node = f"wh1-node-{k % 50:02d}"
            if k % 3 == 0:
                tasks.open_task(
                    s,
                    account,
                    "weight",
                    N_("order %(order)s weighed %(grams)s g, expected %(expected)s g"),
                    now,
                    params={"order": no, "grams": 900 + k % 97, "expected": 450},
                    order_no=no,
                    node_id=node,
                )
            elif k % 3 == 1:
                short = tasks.sentence(
                    N_("short pick: %(qty)s of %(sku)s"), qty=1, sku=skus[k % len(skus)]
                )
                tasks.open_task(
                    s,
                    account,
                    "pick_exception",
                    N_("order %(order)s line %(line)s: %(what)s"),
                    now,
                    params={"order": no, "line": "1", "what": short},
                    order_no=no,
                    node_id=node,
                )
            else:
                tasks.open_task(
                    s,
                    account,
                    "carrier_mismatch",
                    N_("order %(order)s labelled for %(label)s, audited for %(audited)s"),
                    now,
                    params={"order": no, "label": "ZTO", "audited": "SF"},
                    order_no=no,
                    node_id=node,
                )

    # Serials: every unit of the first POs received, and one in two packed into an order.
    rows: list[dict[str, Any]] = []
    for k in range(max(100, n_orders // 5)):
        serial = f"SN{k:09d}"
        sku = skus[k % len(skus)]
        at = now - timedelta(days=20, minutes=-k)
        common = {"account_id": account, "serial": serial, "sku_code": sku, "recorded_at": at}
        rows.append(
            common
            | {"kind": "received", "at": at, "node_id": "wh1-node-00", "warehouse": "WH1"}
            | {"doc": pos[k % len(pos)], "receipt": f"R-{k // 50:06d}", "bin": "A-01-01"}
        )
        if k % 2 and shipped:
            rows.append(
                common
                | {"kind": "packed", "at": at + timedelta(days=3), "node_id": "wh1-node-01"}
                | {"warehouse": "WH1", "doc": shipped[k % len(shipped)], "receipt": None}
            )
    with transaction(sessions) as s:
        for start in range(0, len(rows), 5000):
            s.execute(insert(SerialSighting), rows[start : start + 5000])
    out["serial"] = "SN000000001"

    # A shop of the seller, parked as one whose authorisation lapsed: its page has what to
    # show, and the hub's channel scheduler leaves it alone while the pages are measured.
    with transaction(sessions) as s:
        shop = shops.add_shop(
            s,
            account,
            shops.ShopIn(
                code="tb-bench",
                api_url="http://127.0.0.1:9/router/rest",
                app_key="bench",
                app_secret="bench-secret",
                session_key="bench-session",
                start_from=now - timedelta(days=30),
            ),
            now,
        )
        s.flush()
        shops.park(s, shop.id, "bench: the seller's authorisation lapsed")
    out["shop"] = "tb-bench"

    # The books learn the cost of the goods shipped, as from the suppliers' receipts (the
    # seed's stock was put on the shelves without one): the poster refuses a shipment of
    # goods never received at a known cost. Gifts and exchanges ship too: the SKUs are
    # those that left the shelves.
    with sessions() as s:
        costed = sorted(
            str(c)
            for c in s.execute(
                select(StockMovement.sku_code)
                .where(StockMovement.account_id == account, StockMovement.kind == "ship")
                .distinct()
            ).scalars()
        )
    opened = now - timedelta(days=30)
    with transaction(sessions) as s:
        seed_chart(s, account)
    for start in range(0, len(costed), 500):
        with transaction(sessions) as s:
            for sku in costed[start : start + 500]:
                event = SupplierReceipt(
                    receipt_no=f"bench-opening:{sku}",
                    supplier="SUP-00",
                    sku=sku,
                    quantity=Decimal(500),
                    unit_cost=Decimal("12.50"),
                    on=opened.date(),
                )
                events.record(s, account, event, opened)
    # The books: the poster posts what a running hub would have posted by now.
    poster.tick(sessions, now)
    out["wechat_job"], out["fundflow"] = _wechat(sessions, account, now, n_orders)
    engine.dispose()
    return out


def _wechat(sessions: Any, account: int, now: datetime, n_orders: int) -> tuple[str, str]:
    """A WeChat Pay bill job and two weeks of its fund-flow bills, a movement a day per 2,000
    orders (5 to 50) in no trade bill (withdrawals: each listed with why, a task a day), as
    the job's pages and the bill's page show them; returns the job's 商户号 and the last
    bill's id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from cloud.finance import wechat_fundflow, wechat_jobs

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mchid, last = "1900000109", ""
    with transaction(sessions) as s:
        wechat_jobs.add_job(
            s,
            account,
            mchid=mchid,
            serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            api_url="https://api.mch.weixin.qq.com",
            private_key=private,
            platform_key=public,
            platform_serial="",
            first_day=(now - timedelta(days=14)).date(),
            now=now,
        )
    header = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号"
    for d in range(14, 0, -1):
        day = (now - timedelta(days=d)).date()
        balance, lines = Decimal("10000.00"), [header]
        per_day = max(5, min(50, n_orders // 2000))
        for n in range(per_day):
            balance -= Decimal("1.00")
            at = f"{day} 10:{n // 60:02d}:{n % 60:02d}"
            lines.append(
                f"`{at},`,`FF{day:%Y%m%d}{n:04d},`提现,`提现,`支出,`1.00,`{balance},`bench,`,`"
            )
        lines += [
            "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额",
            f"`{per_day},`0,`0.00,`{per_day},`{per_day}.00",
        ]
        data = ("\r\n".join(lines) + "\r\n").encode()
        with transaction(sessions) as s:
            got = wechat_fundflow.reconcile(
                s, account, data, f"wechat-{mchid}-{day:%Y%m%d}-fundflow.csv", "bench", now
            )
            last = got.public_id
    return mchid, last
