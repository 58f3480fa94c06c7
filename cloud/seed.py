"""The demo's seller: account, admin, catalogue, WH1 with bins, stock, courier rules, orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import accounts
from cloud.catalogue import skus as catalogue
from cloud.catalogue.skus import SkuIn
from cloud.db.models import Account, SalesOrder
from cloud.inbound import orders as purchase_orders
from cloud.inbound import suppliers
from cloud.nodes import ownership
from cloud.orders import arrival, audit_rules
from cloud.orders import core as orders
from cloud.orders.audit_rules import CarrierIn, RuleIn
from cloud.stock import ledger as stock
from cloud.stock import warehouses
from cloud.stock.warehouses import WarehouseIn
from cloud.sync import assignment
from protocol.messages import BinInfo

ACTOR = "seed-demo"
HUNAN = {
    "name": "张三",
    "phone": "13800000001",
    "province": "湖南省",
    "city": "长沙市",
    "district": "岳麓区",
    "address": "麓山南路2号",
}
BEIJING = {
    "name": "李四",
    "phone": "13800000002",
    "province": "北京市",
    "city": "北京市",
    "district": "海淀区",
    "address": "中关村大街1号",
}
GUANGDONG = {
    "name": "王五",
    "phone": "13800000003",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "address": "科技园南区8栋",
}


def seed_demo(
    session: Session,
    now: datetime,
    *,
    password: str,
    node_ids: list[str],
    double11: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Create (once) the demo account; returns what was made, including every order's decisions.

    ``double11`` is the [from, to] date window of the Double-11 rule; it defaults to a window
    around ``now`` so the demo's big order meets it on any day.
    """
    if session.execute(select(Account).where(Account.name == "demo")).scalar_one_or_none():
        raise ValueError("the demo account exists already")
    acct = accounts.create_account(session, "demo", now)
    a = acct.id
    accounts.create_user(session, a, "admin", password, "admin", ACTOR, now)
    warehouses.create_warehouse(session, a, WarehouseIn(code="WH1", name="主仓库"), ACTOR, now)
    warehouses.create_warehouse(
        session, a, WarehouseIn(code="BCP", name="半成品仓库", kind="component"), ACTOR, now
    )
    warehouses.create_warehouse(
        session, a, WarehouseIn(code="DMG", name="售后坏品仓", kind="damaged"), ACTOR, now
    )
    zones = [
        "pick",
        "pick",
        "fast_mover",
        "small_item",
        "reserve",
        "qc",
        "hold",
        "damaged",
        "shipping",
    ]
    bins = [
        BinInfo(code=f"A-{i + 1:02d}", zone=z, x=float(i % 3), y=float(i // 3), walk_order=i + 1)
        for i, z in enumerate(zones)
    ]
    warehouses.upsert_bins(session, a, "WH1", bins, ACTOR, now)
    for node in node_ids:
        # The demo's operator enrolls its nodes for the demo account, as
        # `guanjia node enroll NODE --account demo` does (docs/sync.md, "Who owns a node").
        ownership.enroll(session, node, "demo", ACTOR, now)
        assignment.assign_node(session, a, node, "WH1", ACTOR, now)
    items = [
        SkuIn(
            sku_code="BCP IPAD AIR2 金甲系列皮套-金色",
            name="皮套半成品 金色",
            barcodes=["2000000000015"],
            kind="component",
            brand="MKING",
        ),
        SkuIn(
            sku_code="MKING IPAD AIR2 金甲系列皮套-金色",
            name="金甲系列皮套 金色",
            barcodes=["6901234567892"],
            brand="MKING",
            model="IPAD AIR2",
            series="金甲系列",
            category="皮套",
            colour="金色",
            own_brand=True,
            weight_g=180,
            price_cents=12900,
            min_price_cents=9900,
            components=[{"sku_code": "BCP IPAD AIR2 金甲系列皮套-金色", "qty": 1}],
        ),
        SkuIn(
            sku_code="迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金",
            name="鸟语花香保护壳",
            barcodes=["6901234567908", "6901234567915"],
            brand="迪沃",
            model="IPHONE6 PLUS",
            series="鸟语花香系列",
            category="保护壳",
            colour="花香金",
            weight_g=60,
            price_cents=5900,
        ),
        SkuIn(
            sku_code="GIFT 贴膜",
            name="赠品贴膜",
            barcodes=["6901234567922"],
            weight_g=10,
            price_cents=0,
        ),
        SkuIn(
            sku_code="SET 皮套+保护壳",
            name="套装",
            barcodes=["6901234567939"],
            kind="bundle",
            price_cents=99900,
            components=[
                {"sku_code": "MKING IPAD AIR2 金甲系列皮套-金色", "qty": 1},
                {"sku_code": "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金", "qty": 1},
            ],
        ),
    ]
    for item in items:
        catalogue.upsert_sku(session, item, now, a, ACTOR)
    stock.receive(session, a, "WH1", items[1].sku_code, 50, ACTOR, now, bin_code="A-01")
    stock.receive(session, a, "WH1", items[2].sku_code, 80, ACTOR, now, bin_code="A-02")
    stock.receive(session, a, "WH1", items[3].sku_code, 500, ACTOR, now, bin_code="A-04")
    stock.receive(session, a, "BCP", items[0].sku_code, 30, ACTOR, now)
    suppliers.create(session, a, "DG-LEATHER", "东莞皮具厂", "陈经理 0769-2288 0000", ACTOR, now)
    purchase_orders.create(
        session,
        a,
        "PO-2026-001",
        "WH1",
        [purchase_orders.LineIn(items[1].sku_code, 100, Decimal("38.50"))],
        ACTOR,
        now,
        supplier="DG-LEATHER",
        eta=now.date(),
        tolerance_pct=Decimal(5),
        confirm=True,
    )
    for code, name, cost, unreachable in [
        ("SF", "顺丰", 2200, []),
        ("ZTO", "中通", 800, ["西藏"]),
        ("HTKY", "汇通", 700, ["西藏", "新疆", "乡村"]),
    ]:
        audit_rules.put_carrier(
            session,
            a,
            code,
            CarrierIn(name=name, cost_cents=cost, unreachable=unreachable),
            ACTOR,
            now,
        )
    day = now.date()
    lo, hi = double11 or (
        (day.replace(day=1)).isoformat(),
        day.replace(day=28).isoformat() if day.day <= 28 else day.isoformat(),
    )
    rules = {
        "double11-sf": RuleIn(
            kind="courier",
            name="双十一满999发顺丰 (Double 11, ≥ 999 ships SF)",
            priority=10,
            conditions=[
                {"field": "date", "op": "between", "value": [lo, hi]},
                {"field": "total", "op": "gte", "value": 999},
            ],
            action={"carrier": "SF"},
        ),
        "hunan-sf": RuleIn(
            kind="courier",
            name="湖南省内发顺丰 (Hunan ships SF)",
            priority=20,
            conditions=[{"field": "province", "op": "eq", "value": "湖南"}],
            action={"carrier": "SF"},
        ),
        "buyer-choice": RuleIn(
            kind="courier",
            name="买家指定快递 (buyer's choice)",
            priority=30,
            conditions=[{"field": "buyer_carrier", "op": "present"}],
            action={"use": "buyer_choice"},
        ),
        "default-zto": RuleIn(
            kind="courier", name="默认中通 (default ZTO)", priority=1000, action={"carrier": "ZTO"}
        ),
        "gift-film": RuleIn(
            kind="gift",
            name="满100送贴膜 (gift film over 100)",
            priority=50,
            conditions=[{"field": "total", "op": "gte", "value": 100}],
            action={"gift_sku": "GIFT 贴膜", "qty": 1},
        ),
    }
    for key, rule in rules.items():
        audit_rules.put_rule(session, a, key, rule, ACTOR, now)

    def order(
        no: str, r: dict[str, str], lines: list[tuple[str, int, int]], **kw: Any
    ) -> orders.OrderIn:
        return orders.OrderIn.model_validate(
            {
                "order_no": no,
                "buyer_nick": f"buyer-{no[-3:]}",
                "recipient": r,
                "lines": [
                    {"line_id": str(i + 1), "sku_code": s, "qty": q, "price_cents": p}
                    for i, (s, q, p) in enumerate(lines)
                ],
                **kw,
            }
        )

    bodies = [
        order("JY1300001", BEIJING, [(items[2].sku_code, 1, 5900)]),
        order("JY1300002", HUNAN, [(items[2].sku_code, 2, 5900)]),
        order("JY1300003", GUANGDONG, [(items[4].sku_code, 1, 129900)], channel="bank_transfer"),
        order(
            "JY1300004",
            BEIJING,
            [(items[1].sku_code, 1, 12900)],
            buyer_remark="请发顺丰, 周末不在家",
        ),
        order("JY1300005", GUANGDONG, [(items[2].sku_code, 1, 5900)], buyer_carrier="HTKY"),
    ]
    made = arrival.create_orders(session, a, bodies, ACTOR, now)
    session.flush()
    out = []
    for o in made:
        row = session.execute(select(SalesOrder).where(SalesOrder.id == o.id)).scalar_one()
        out.append(
            {
                "order_no": row.order_no,
                "status": row.status,
                "on_hold": row.on_hold,
                "hold_reason": row.hold_reason,
                "carrier": row.carrier,
                "rule": row.carrier_source,
            }
        )
    return {"account": "demo", "account_id": a, "username": "admin", "orders": out}
