"""Tenancy over every route: account B's admin aims each endpoint at account A's objects.

The probe table below has a case for every route that takes a path parameter or changes
state, and the list table a query for every list route; a route in neither (nor in the
commented allow-list) fails :func:`test_every_route_is_probed_or_allowed`, so a new
endpoint cannot ship without its tenancy probe.

What is asserted (docs/cloud.md "Tenancy"):

* a foreign case (B names A's object, in the path or in the body) answers exactly the
  status in the table, never a 2xx;
* an own case (B creates an object of its own, often under one of A's codes) may succeed;
* no answer to B, of any kind, contains one of A's identifying values (order numbers, SKU
  codes and names, movement ids, phones, node ids, ...) unless B's own request named it;
* every row of A (each table's rows of A's account, child tables through their parent,
  node tables through A's assigned nodes) is identical before and after all probes;
* the control: A sending the same foreign request gets a 2xx, so every foreign probe
  reached the lookup it tests instead of failing validation or a state check first.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.app import create_app
from cloud.catalogue import import_export
from cloud.catalogue import jobs as import_jobs
from cloud.db.engine import session_factory, transaction
from cloud.db.models import (
    Barcode,
    Carrier,
    IngestRejection,
    Node,
    NodeAssignment,
    NodeOwner,
    ParkedEvent,
    PurchaseOrder,
    Rule,
    SalesOrder,
    Sku,
    StockMovement,
    Supplier,
    Task,
    User,
    Warehouse,
)
from cloud.db.wechat_bills import WechatBillJob, WechatPlatformCert
from cloud.finance import (
    courier_bills,
    order_money,
    payables,
    poster,
    rate_cards,
    settlements,
    wechat_fundflow,
    wechat_jobs,
)
from cloud.finance import ledger as fin_ledger
from cloud.finance.chart import seed_chart
from cloud.finance.einvoice import invoices as einvoices
from cloud.finance.einvoice.lines import LineIn
from cloud.finance.events import record
from cloud.finance.postings import Line, OrderShipped, SupplierReceipt
from cloud.inbound import receipts, serial_conflicts, transfer_pick, transfer_ship
from cloud.nodes import history, ownership
from cloud.seed import BEIJING, seed_demo
from cloud.settings import Settings
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    NodeStarted,
    NodeStartedPayload,
    OrderPicked,
    OrderPickedPayload,
    PickedLine,
    ReturnedLine,
    ReturnReceived,
    ReturnReceivedPayload,
    ShippedLine,
    TransferShippedPayload,
)
from tests.cloud.conftest import PASSWORD, account_id_of, login, make_account
from tests.cloud.finance.test_settlements import csv as bill_csv
from tests.cloud.finance.test_settlements import row as bill_row

NODE = "wh1-pack-1"
#: A's second node, enrolled without an account and claimed by A with CLAIM_CODE.
SPARE = "wh1-spare-1"
#: A's receiving node: the label of the serial the hub issued goes there (serial_labels.py).
A_RCV = "wh1-rcv-a1"
A_SERIAL_2 = "A-SERIAL-0002"
CLAIM_CODE = "A1B2-C3D4-E5F6-G7H8"
PHONE_CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"  # A's: 80 in WH1 bin A-02
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"  # A's own-brand cover
FILM = "GIFT 贴膜"  # A's gift film: 500 in WH1
B_SKU = "B-SKU-1"
A_SPARE = "A-SPARE-1"  # A's SKU nothing refers to (the DELETE probe's control deletes it)
B_ORDER = "B-ORDER-1"
B_RECIPIENT = {
    "name": "赵六",
    "phone": "13900000009",
    "province": "北京市",
    "city": "北京市",
    "district": "海淀区",
    "address": "学院路9号",
}
#: Values that exist only in A's rows and that no request of B names: any of them in an
#: answer to B is a leak (collected with A's identifiers from the database at run time).
A_MARKERS = (
    "甲方买家",
    "A-TASK-MARKER",
    "A-PARKED-MARKER",
    "A-REJECTED-MARKER",
    "东莞皮具厂",
    "A-SHIPMENT-MARKER",
    "A-TID-1",
    "A-CHANGE-MARKER",
    "A-REFUND-1",
    "甲方开票公司",
    "A-AS-MARKER",
    "A0CE47",
)

#: A's orders beyond the demo's five, each in the state in which A's own request of the
#: route it is named for succeeds (the control): state checks never answer before the
#: tenancy lookup does.
A_NEW = {
    "JY1300101": "patch",
    "JY1300102": "save",
    "JY1300103": "confirm (saved by the fixture)",
    "JY1300104": "audit (saved and confirmed by the fixture)",
    "JY1300105": "split (two units)",
    "JY1300106": "merge, with JY1300107 (same buyer and address)",
    "JY1300107": "merge",
}
A_AUDITED = {
    "JY1300111": "ship (released by the fixture)",
    "JY1300112": "cancel-outbound (released and picked)",
    "JY1300113": "reverse-outbound (released and shipped)",
}


# --- the tables -------------------------------------------------------------------------


@dataclass
class Case:
    method: str
    #: The route's path as the app declares it; parameters come from the world's ``params``.
    route: str
    #: B's answer. A foreign case never expects a 2xx.
    expect: int
    body: Any = None
    #: A text/csv body instead of JSON (the import route).
    csv: str | None = None
    #: A file's bytes as the body (a settlement bill).
    data: bytes | None = None
    #: Path parameters of this case other than the world's defaults.
    params: dict[str, str] = field(default_factory=dict)
    #: B creates an object of its own (under A's code, often): a 2xx is B's, not A's.
    own: bool = False
    #: A sends the same request and succeeds (False where B's request names B's objects).
    control: bool = True
    #: A's body for the control, where B's names one of B's objects.
    control_body: Any = None


def _order(no: str, sku: str, *, warehouse: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_no": no,
        "buyer_nick": "乙买家",
        "recipient": B_RECIPIENT,
        "lines": [{"line_id": "1", "sku_code": sku, "qty": 1, "price_cents": 100}],
    }
    if warehouse is not None:
        body["warehouse"] = warehouse
    return body


ORDER = "/api/v1/orders/{order_no}"
#: A serial of A's unit, seen at A's returns table.
A_SERIAL = "A-SERIAL-0001"
#: A's courier bill: one parcel of A's courier SF, with its sides.
A_BILL = (
    "tracking_number,date,destination,weight_kg,fee,length_cm,width_cm,height_cm\n"
    "ATRACK0001,2026-12-05,浙江,1.0,12.00,10,10,10\n"
).encode()
AS = "/api/v1/aftersales/{number}"
REASON = {"reason": "probe"}

#: A's WeChat Pay merchant key (its public half stands in for WeChat Pay's) and a fund-flow
#: bill of one withdrawal (no trade-bill counterpart: listed, a task).
_A_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
A_WECHAT_KEY = _A_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
A_WECHAT_PUBLIC = _A_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
A_FUNDFLOW = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
    "资金变更提交申请人,备注,业务凭证号\r\n"
    "`2026-11-11 10:00:00,`,`A-FF-1,`提现,`提现,`支出,`5.00,`95.00,`seller,`,`\r\n"
    "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`1,`0,`0.00,`1,`5.00\r\n"
).encode()


#: The last day A's WeChat Pay job has fetched (its first day two days before).
A_JOB_LAST = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()


#: A's settlement bill: a sale of A's order for another amount (listed, unmatched) and a fee.
A_SETTLEMENT = bill_csv(
    [
        bill_row("A-FLOW-1", "JY1300001", "1.23", "", "1.23", "在线支付"),
        bill_row("A-FLOW-2", "JY1300001", "", "-0.50", "0.73", "收费"),
    ]
)


#: Cases where B names A's objects. Run before OWN, while B has no object under A's codes.
FOREIGN: list[Case] = [
    Case("GET", "/api/v1/finance/settlements/{settlement_id}", 404),
    # orders: each of A's orders in the state that lets A's own request succeed
    Case("GET", ORDER, 404),
    Case("PATCH", ORDER, 404, {"seller_note": "B was here"}, params={"order_no": "JY1300101"}),
    # B's own order into A's warehouse (which would reserve A's stock): refused
    Case("PATCH", ORDER, 422, {"warehouse": "WH1"}, params={"order_no": B_ORDER}, control=False),
    Case("POST", ORDER + "/save", 404, params={"order_no": "JY1300102"}),
    Case("POST", ORDER + "/confirm", 404, {"note": "probe"}, params={"order_no": "JY1300103"}),
    Case("POST", ORDER + "/audit", 404, params={"order_no": "JY1300104"}),
    Case("POST", ORDER + "/release", 404, params={"order_no": "JY1300001"}),
    # before the ship control ships JY1300111: A's node takes its pick lease
    Case(
        "POST",
        ORDER + "/pick-node",
        404,
        {"node": NODE, "reason": "probe"},
        params={"order_no": "JY1300111"},
    ),
    Case("POST", ORDER + "/hold", 404, REASON, params={"order_no": "JY1300005"}),
    Case("POST", ORDER + "/unhold", 404, {"note": "probe"}, params={"order_no": "JY1300004"}),
    Case("POST", ORDER + "/cancel", 404, REASON, params={"order_no": "JY1300002"}),
    Case("POST", ORDER + "/ship", 404, params={"order_no": "JY1300111"}),
    Case("POST", ORDER + "/reject", 404, REASON, params={"order_no": "JY1300003"}),
    Case("POST", ORDER + "/cancel-outbound", 404, REASON, params={"order_no": "JY1300112"}),
    Case("POST", ORDER + "/reverse-outbound", 404, REASON, params={"order_no": "JY1300113"}),
    Case(
        "POST",
        ORDER + "/split",
        404,
        {"lines": [{"line_id": "1", "qty": 1}]},
        params={"order_no": "JY1300105"},
    ),
    Case("POST", "/api/v1/orders/merge", 404, {"order_nos": ["JY1300106", "JY1300107"]}),
    # B's order first or last: A's is still not B's to merge
    Case(
        "POST",
        "/api/v1/orders/merge",
        404,
        {"order_nos": [B_ORDER, "JY1300106"]},
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/orders/merge",
        404,
        {"order_nos": ["JY1300107", B_ORDER]},
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/orders",
        422,
        {"orders": [_order("B-ORDER-2", B_SKU, warehouse="WH1")]},
        control=False,
    ),
    Case("POST", "/api/v1/orders", 422, {"orders": [_order("B-ORDER-3", FILM)]}, control=False),
    # catalogue
    Case("GET", "/api/v1/skus/{sku_code}", 404),
    Case(
        "PUT",
        "/api/v1/skus/{sku_code}",
        422,
        {
            "sku_code": "B-SET",
            "name": "乙套装",
            "barcodes": ["6909999999983"],
            "kind": "bundle",
            "components": [{"sku_code": LEATHER, "qty": 1}],
        },
        params={"sku_code": "B-SET"},
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/skus/import",
        422,
        csv=f"sku_code,name,barcodes,kind,components\nB-SET,乙套装,6909999999983,bundle,{LEATHER}*1\n",
        control=False,
    ),
    # import jobs: A's job, by its id, is no job to B
    Case("GET", "/api/v1/skus/imports/{job_id}", 404),
    Case("DELETE", "/api/v1/skus/{sku_code}", 404, params={"sku_code": A_SPARE}),
    # B moves the lease of A's released order: no order of B's (control=False: A's own
    # move would take the lease the pick-node control above moves)
    Case(
        "POST",
        "/api/v1/pick-leases/moves",
        404,
        {"order_nos": ["JY1300111"], "node": NODE, "reason": "probe"},
        control=False,
    ),
    # warehouses, bins, nodes
    Case("GET", "/api/v1/warehouses/{code}/bins", 404),
    Case(
        "PUT",
        "/api/v1/warehouses/{code}/bins",
        404,
        {"bins": [{"code": "Z-99", "zone": "pick", "x": 9, "y": 9, "walk_order": 99}]},
    ),
    # where A's WH1 sends its damaged returns (售后坏品仓); B's own warehouse pointed at
    # A's damaged-goods warehouse: no warehouse of B's, 422
    Case("GET", "/api/v1/warehouses/{code}/damaged-warehouse", 404),
    Case("PUT", "/api/v1/warehouses/{code}/damaged-warehouse", 404, {"damaged_warehouse": "DMG"}),
    Case(
        "PUT",
        "/api/v1/warehouses/{code}/damaged-warehouse",
        422,
        {"damaged_warehouse": "DMG"},
        params={"code": "BWH"},
        control=False,
    ),
    Case("GET", "/api/v1/nodes/{node_id}", 404),
    Case("GET", "/api/v1/nodes/{node_id}/history", 404),
    # A's node is no node to B: 404 as for an id no node has (no "serves another account")
    Case(
        "PUT",
        "/api/v1/nodes/{node_id}/assignment",
        404,
        {"warehouse": "BWH"},
        control_body={"warehouse": "WH1"},
    ),
    # the claim code A used: spent, whoever enters it again
    Case("POST", "/api/v1/nodes/claim", 404, {"code": CLAIM_CODE}, control=False),
    Case(
        "PUT",
        "/api/v1/nodes/{node_id}/assignment",
        404,
        {"warehouse": "WH1"},
        params={"node_id": "b-node-1"},
        control=False,
    ),
    # stock
    Case("GET", "/api/v1/stock/warehouses/{code}", 404),
    Case("POST", "/api/v1/stock/receipts", 404, {"warehouse": "WH1", "sku_code": FILM, "qty": 3}),
    Case(
        "POST",
        "/api/v1/stock/receipts",
        422,
        {"warehouse": "BWH", "sku_code": FILM, "qty": 3},
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/stock/purchases",
        404,
        {
            "warehouse": "WH1",
            "po_number": "PO-2026-002",
            "lines": [{"sku_code": LEATHER, "qty": 5}],
        },
    ),
    Case(
        "POST",
        "/api/v1/stock/transfers",
        404,
        {"from_warehouse": "WH1", "to_warehouse": "DMG", "sku_code": PHONE_CASE, "qty": 1},
    ),
    # A's stock into B's warehouse, and B's into A's
    Case(
        "POST",
        "/api/v1/stock/transfers",
        404,
        {"from_warehouse": "WH1", "to_warehouse": "BWH", "sku_code": PHONE_CASE, "qty": 1},
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/stock/transfers",
        404,
        {"from_warehouse": "BWH", "to_warehouse": "WH1", "sku_code": B_SKU, "qty": 1},
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/stock/adjustments",
        404,
        {"warehouse": "WH1", "sku_code": FILM, "delta": -1, "reason": "probe"},
    ),
    Case("POST", "/api/v1/stock/movements/{movement_id}/reverse", 404, REASON),
    Case(
        "POST",
        "/api/v1/stock/movements/{movement_id}/cancel-receipt",
        404,
        REASON,
        params={"movement_id": "{receipt_id}"},
    ),
    # B releases A's claimed node; A's control releases it (last: nothing after needs it)
    Case("DELETE", "/api/v1/nodes/{node_id}/assignment", 404, params={"node_id": SPARE}),
    # supplier payables, order money, statements (cloud/api/payables.py, statements.py):
    # before OWN gives B a supplier DG-LEATHER of its own
    Case(
        "GET",
        "/api/v1/finance/suppliers/{supplier}/balance",
        404,
        params={"supplier": "DG-LEATHER"},
    ),
    Case(
        "GET",
        "/api/v1/finance/statements/suppliers/{supplier}",
        404,
        params={"supplier": "DG-LEATHER"},
    ),
    Case(
        "POST",
        "/api/v1/finance/supplier-docs",
        422,
        {
            "doc_no": "PROBE-PAY-1",
            "supplier": "DG-LEATHER",
            "kind": "payment",
            "amount": "1.00",
            "paid_from": "1002",
        },
    ),
    Case("GET", "/api/v1/finance/orders/{order_no}", 404, params={"order_no": "JY1300001"}),
    Case(
        "POST",
        "/api/v1/finance/orders/{order_no}/confirm",
        404,
        {"kind": "refunded", "reason": "probe"},
        params={"order_no": "JY1300005"},
    ),
    # a unit's serial trace (cloud/stock/serials.py)
    Case("GET", "/api/v1/serials/{serial}", 404),
    # A's serial received twice, its conflict resolved by A's control
    # (cloud/inbound/serial_conflicts.py)
    Case(
        "POST",
        "/api/v1/serials/{serial}/resolve",
        404,
        {"receipt": "A-SN-RC-2", "action": "mislabel"},
    ),
    # the label of a serial A's hub issued, printed again (cloud/inbound/serial_labels.py)
    Case("POST", "/api/v1/serials/{serial}/label", 404, {}, params={"serial": "{label_serial}"}),
    Case(
        "POST",
        "/api/v1/finance/orders/{order_no}/prepayment-refunds",
        404,
        {"refund_no": "PROBE-1", "amount": "1.00", "reason": "probe"},
        params={"order_no": "JY1300003"},
    ),
    # suppliers and purchase orders (cloud/inbound/)
    Case("GET", "/api/v1/suppliers/{code}", 404, params={"code": "DG-LEATHER"}),
    Case(
        "PUT",
        "/api/v1/suppliers/{code}",
        404,
        {"name": "乙改的名", "contact": None},
        params={"code": "DG-LEATHER"},
    ),
    Case("GET", "/api/v1/purchase-orders/{number}", 404),
    Case("GET", "/api/v1/purchase-orders/{number}/receipts", 404),
    Case(
        "POST",
        "/api/v1/purchase-orders/{number}/receipts",
        404,
        {
            "receipt_id": "B-PROBE-1",
            "warehouse": "WH1",
            "lines": [{"sku_code": LEATHER, "qty": 1}],
        },
    ),
    Case(
        "PUT",
        "/api/v1/purchase-orders/{number}/delivery-refs",
        404,
        {"delivery_refs": ["SF-B-PROBE-1"]},
    ),
    Case("POST", "/api/v1/purchase-orders/{number}/confirm", 404, params={"number": "PO-A-DRAFT"}),
    Case(
        "POST",
        "/api/v1/purchase-orders/{number}/close",
        404,
        REASON,
        params={"number": "PO-A-CLOSE"},
    ),
    Case(
        "POST",
        "/api/v1/purchase-orders/{number}/cancel",
        404,
        REASON,
        params={"number": "PO-A-CANCEL"},
    ),
    # e-invoices: A's issued blues (one to red, one to change the title of)
    Case("GET", "/api/v1/einvoices/{request_no}", 404, params={"request_no": "GJ-A-INV-1"}),
    Case(
        "POST",
        "/api/v1/einvoices/{request_no}/red",
        404,
        {"reason": "01"},
        params={"request_no": "GJ-A-INV-1"},
    ),
    Case(
        "POST",
        "/api/v1/einvoices/{request_no}/title",
        404,
        {"buyer_name": "乙方抬头"},
        params={"request_no": "GJ-A-INV-2"},
    ),
    # after-sales requests (cloud/aftersales/): each of A's in the state A's control needs
    Case("GET", AS, 404, params={"number": "AS-A-GET"}),
    Case(
        "POST",
        "/api/v1/aftersales",
        404,
        {"order_no": "JY1300121", "kind": "return", "lines": [{"order_line_id": "1", "qty": 1}]},
    ),
    Case("POST", AS + "/approve", 404, {"note": "probe"}, params={"number": "AS-A-APPROVE"}),
    Case("POST", AS + "/reject", 404, REASON, params={"number": "AS-A-REJECT"}),
    Case(
        "POST",
        AS + "/receive",
        404,
        {
            "receipt_id": "B-AS-PROBE",
            "warehouse": "WH1",
            "lines": [{"line_no": 1, "sku_code": PHONE_CASE, "sellable": 1}],
        },
        params={"number": "AS-A-RECEIVE"},
    ),
    Case("POST", AS + "/close", 404, {"note": "probe"}, params={"number": "AS-A-CLOSE"}),
    # transfers (cloud/inbound/transfers.py), each of A's in the state its control needs
    Case("GET", "/api/v1/transfers/{number}", 404, params={"number": "TR-A-RECV"}),
    Case("GET", "/api/v1/transfers/{number}/receipts", 404, params={"number": "TR-A-DONE"}),
    Case("GET", "/api/v1/transfers/{number}/reversals", 404, params={"number": "TR-A-DONE"}),
    Case("POST", "/api/v1/transfers/{number}/audit", 404, params={"number": "TR-A-DRAFT"}),
    Case("POST", "/api/v1/transfers/{number}/ship", 404, params={"number": "TR-A-AUDIT"}),
    Case(
        "POST", "/api/v1/transfers/{number}/cancel", 404, REASON, params={"number": "TR-A-CANCEL"}
    ),
    Case("POST", "/api/v1/transfers/{number}/ship-rest", 404, params={"number": "TR-A-SHORT"}),
    Case(
        "POST",
        "/api/v1/transfers/{number}/cancel-rest",
        404,
        REASON,
        params={"number": "TR-A-REST"},
    ),
    Case(
        "PUT",
        "/api/v1/transfers/{number}/pick-node",
        404,
        {"node": "b-probe-node"},
        params={"number": "TR-A-MOVE"},
        control_body={"node": NODE},
    ),
    Case(
        "POST",
        "/api/v1/transfers/{number}/cancel-shipment",
        404,
        REASON,
        params={"number": "TR-A-BACK"},
    ),
    Case(
        "POST",
        "/api/v1/transfers/{number}/receipts",
        404,
        {"receipt_id": "B-PROBE-T1", "warehouse": "BCP", "lines": [{"sku_code": FILM, "qty": 1}]},
        params={"number": "TR-A-RECV"},
    ),
    Case(
        "POST",
        "/api/v1/transfers/{number}/receipts/{receipt_id}/cancel",
        404,
        REASON,
        params={"number": "TR-A-DONE", "receipt_id": "A-TRC-1"},
    ),
    # rules, tasks, users
    Case("GET", "/api/v1/rules/{key}/versions", 404),
    Case("POST", "/api/v1/tasks/{task_id}/resolve", 404, {"resolution": "probe"}),
    Case("PATCH", "/api/v1/users/{user_id}", 404, {"role": "readonly"}),
    # channels: A's shop, its courier codes, A's order's shipment confirmation
    Case("POST", "/api/v1/channels/shops/{code}/download", 404, params={"code": "A-SHOP"}),
    Case(
        "PUT",
        "/api/v1/channels/shops/{code}/authorisation",
        404,
        {"session_key": "b-stole-it"},
        params={"code": "A-SHOP"},
    ),
    Case(
        "PUT",
        "/api/v1/channels/shops/{code}/schedule",
        404,
        {"interval_s": 600},
        params={"code": "A-SHOP"},
    ),
    Case(
        "PUT",
        "/api/v1/channels/shops/{code}/couriers/{carrier}",
        404,
        {"company_code": "ZTO"},
        params={"code": "A-SHOP", "carrier": "ZTO"},
    ),
    Case("GET", "/api/v1/channels/shops/{code}/couriers", 404, params={"code": "A-SHOP"}),
    Case(
        "GET",
        "/api/v1/channels/orders/{order_no}/shipments",
        404,
        params={"order_no": "JY1300113"},
    ),
    Case("POST", "/api/v1/channels/shipments/{shipment_id}/retry", 404),
    # e-waybills: B may not draw from A's shop, nor read A's order's waybills
    Case(
        "PUT",
        "/api/v1/channels/waybill-sources/{carrier}",
        404,
        {
            "shop": "A-SHOP",
            "cp_code": "ZTO",
            "sender": {
                "name": "乙",
                "phone": "13900000000",
                "province": "浙江省",
                "city": "杭州市",
                "address": "文一西路 1 号",
            },
        },
        params={"carrier": "ZTO"},
    ),
    Case(
        "GET",
        "/api/v1/channels/orders/{order_no}/waybills",
        404,
        params={"order_no": "JY1300113"},
    ),
    # the offline e-waybill pool of A's node: 422, said as of a node that does not exist
    Case(
        "PUT",
        "/api/v1/channels/waybill-pools/{node}/{carrier}",
        422,
        {"target": 5},
        params={"node": NODE, "carrier": "ZTO"},
    ),
    # retiring A's node, giving back by force the number it has not answered for: 404
    Case("POST", "/api/v1/channels/waybill-pools/{node}/retire", 404, params={"node": NODE}),
    Case(
        "POST",
        "/api/v1/channels/waybill-pools/{node}/force-give-back",
        404,
        params={"node": NODE},
    ),
    # channels, later changes: A's SKU mapping and refunds
    Case(
        "PUT",
        "/api/v1/channels/shops/{code}/skus/{outer_sku_id}",
        404,
        {"sku_code": FILM},
        params={"code": "A-SHOP", "outer_sku_id": "A-OUTER"},
    ),
    Case("GET", "/api/v1/channels/shops/{code}/skus", 404, params={"code": "A-SHOP"}),
    Case("GET", "/api/v1/channels/shops/{code}/refunds", 404, params={"code": "A-SHOP"}),
    # channels: A's shop's stock push
    Case("GET", "/api/v1/channels/shops/{code}/stock", 404, params={"code": "A-SHOP"}),
    Case("GET", "/api/v1/channels/shops/{code}/stock-policy", 404, params={"code": "A-SHOP"}),
    Case(
        "PUT",
        "/api/v1/channels/shops/{code}/stock-policy",
        404,
        {"enabled": True, "safety_stock": 1, "share_pct": 50},
        params={"code": "A-SHOP"},
    ),
    # channels: A's Shopify shop's locations (A's WH1 is its location 71001; the control's
    # PUT reads the shop's locations through a stand-in for Shopify: the test's monkeypatch)
    Case("GET", "/api/v1/channels/shops/{code}/locations", 404, params={"code": "A-SHOPIFY"}),
    Case(
        "PUT",
        "/api/v1/channels/shops/{code}/locations/{warehouse}",
        404,
        {"location_id": "71001"},
        params={"code": "A-SHOPIFY", "warehouse": "WH1"},
    ),
    Case(
        "DELETE",
        "/api/v1/channels/shops/{code}/locations/{warehouse}",
        404,
        params={"code": "A-SHOPIFY", "warehouse": "WH1"},
    ),
    # finance: A's courier rate card, courier bill and a disputed line of it
    Case("GET", "/api/v1/finance/couriers/{carrier}/rate-card", 404, params={"carrier": "SF"}),
    Case("GET", "/api/v1/finance/courier-bills/{bill_id}", 404),
    Case("POST", "/api/v1/finance/courier-bills/{bill_id}/accept", 404),
    Case(
        "POST",
        "/api/v1/finance/courier-bills/{bill_id}/lines/{line_id}/resolve",
        404,
        {"credited": "0.00"},
    ),
    # finance: A's WeChat Pay bill job (in to A_JOB_LAST) and A's fund-flow bill
    Case("GET", "/api/v1/finance/fundflow-bills/{fundflow_id}", 404),
    Case("GET", "/api/v1/finance/wechat-jobs/{mchid}", 404),
    Case("GET", "/api/v1/finance/wechat-jobs/{mchid}/certificates", 404),
    Case("POST", "/api/v1/finance/wechat-jobs/{mchid}/park", 404),
    Case("POST", "/api/v1/finance/wechat-jobs/{mchid}/resume", 404),
    Case("POST", "/api/v1/finance/wechat-jobs/{mchid}/refetch", 404, {"day": A_JOB_LAST}),
]

#: B makes objects of its own, most under A's codes: allowed, and A's rows stay as they were.
OWN: list[Case] = [
    # B adds a shop under A's shop code: B's own shop; A's keeps its keys and schedule.
    Case(
        "POST",
        "/api/v1/channels/shops",
        201,
        {
            "code": "A-SHOP",
            "api_url": "http://127.0.0.1:9/router/rest",
            "app_key": "B-KEY",
            "app_secret": "B-SECRET",
            "session_key": "B-SESSION",
            "start_from": "2026-01-01T00:00:00+08:00",
        },
        own=True,
        control=False,  # A has that shop already: A's own request is a 409
    ),
    # B imports the very file A imported (same bytes, same 账务流水号): B's own bill, its
    # sale of A's order number matches nothing of B's; A's bill and rows stay as they were.
    Case("POST", "/api/v1/finance/settlements", 201, data=A_SETTLEMENT, own=True),
    Case("POST", "/api/v1/finance/settlements/match-again", 200, own=True),
    Case("POST", "/api/v1/finance/fundflow-bills", 201, data=A_FUNDFLOW, own=True),
    # B's own job under A's 商户号 (B's keys are A's test key: only the account differs)
    Case(
        "POST",
        "/api/v1/finance/wechat-jobs",
        201,
        {
            "mchid": "1900000109",
            "serial_no": "B-SERIAL",
            "private_key": A_WECHAT_KEY.decode(),
            "platform_key": A_WECHAT_PUBLIC.decode(),
            "first_day": A_JOB_LAST,
        },
        own=True,
    ),
    # B's job's certificates under A's 商户号: B's (none), never A's A0CE47
    Case("GET", "/api/v1/finance/wechat-jobs/{mchid}/certificates", 200, own=True),
    # B's own supplier and purchase order under A's codes: B's
    Case("POST", "/api/v1/suppliers", 201, {"code": "DG-LEATHER", "name": "乙的供应商"}, own=True),
    Case(
        "POST",
        "/api/v1/purchase-orders",
        201,
        {
            "number": "PO-A-DRAFT",
            "warehouse": "BWH",
            "supplier": "DG-LEATHER",
            "lines": [{"sku_code": B_SKU, "qty": 4, "unit_price": "2"}],
        },
        own=True,
    ),
    Case("POST", "/api/v1/warehouses", 201, {"code": "WH1", "name": "乙一号仓"}, own=True),
    # B closes its own month of A's name: A's closed months stay as they are
    Case(
        "POST",
        "/api/v1/finance/periods/{period}/close",
        200,
        params={"period": "2020-01"},
        own=True,
    ),
    # B's own after-sales settings (A's stay as they are)
    Case("PUT", "/api/v1/aftersales-settings", 200, {"exchange_at": "approval"}, own=True),
    # B's own transfer under A's number, into B's own WH1
    Case(
        "POST",
        "/api/v1/transfers",
        201,
        {
            "number": "TR-A-DRAFT",
            "from_warehouse": "BWH",
            "to_warehouse": "WH1",
            "lines": [{"sku_code": B_SKU, "qty": 1}],
        },
        own=True,
    ),
    Case(
        "PUT",
        "/api/v1/skus/{sku_code}",
        200,
        {"sku_code": LEATHER, "name": "乙的皮套", "barcodes": ["6901234567892"]},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/skus/import",
        200,
        csv=f"sku_code,name,barcodes\n{FILM},乙的赠品,6901234567922\n",
        own=True,
    ),
    # a job of B's own, importing under A's code: B's (it is queued or runs; A's stay)
    Case(
        "POST",
        "/api/v1/skus/imports",
        202,
        csv=f"sku_code,name,barcodes\n{FILM},乙的赠品二,6901234567939\n",
        own=True,
    ),
    Case(
        "PUT",
        "/api/v1/rules/{key}",
        200,
        {"kind": "courier", "name": "乙规则", "priority": 5, "action": {"carrier": "SF"}},
        own=True,
    ),
    # B's dry run of a rule under A's key: B's rules and today's orders only, nothing saved
    Case(
        "POST",
        "/api/v1/rules/{key}/dry-run",
        200,
        {"kind": "courier", "name": "乙规则", "priority": 5, "action": {"carrier": "SF"}},
        own=True,
    ),
    Case(
        "PUT",
        "/api/v1/carriers/{code}",
        200,
        {"name": "乙快递", "cost_cents": 1},
        params={"code": "SF"},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/stock/purchases",
        201,
        {"warehouse": "BWH", "po_number": "PO-2026-001", "lines": [{"sku_code": B_SKU, "qty": 5}]},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/stock/receipts",
        201,
        {"warehouse": "BWH", "sku_code": B_SKU, "qty": 2, "po_number": "PO-2026-001"},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/stock/transfers",
        201,
        {"from_warehouse": "BWH", "to_warehouse": "WH1", "sku_code": B_SKU, "qty": 1},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/stock/adjustments",
        201,
        {"warehouse": "WH1", "sku_code": LEATHER, "delta": 4, "reason": "B's count"},
        own=True,
    ),
    Case(
        "PUT",
        "/api/v1/warehouses/{code}/bins",
        200,
        {"bins": [{"code": "A-01", "zone": "reserve", "x": 0, "y": 0, "walk_order": 1}]},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/orders",
        201,
        {"orders": [_order("JY1300001", B_SKU, warehouse="BWH")]},
        own=True,
    ),
    # B's own invoice for B's order numbered as A's: B's provider, none of A's invoices
    Case(
        "POST",
        "/api/v1/einvoices",
        201,
        {
            "order_no": "JY1300001",
            "buyer_name": "乙方抬头",
            "lines": [
                {
                    "name": "乙商品",
                    "tax_code": "1090101990000000000",
                    "rate": "0.13",
                    "price": "1.13",
                }
            ],
        },
        own=True,
        control=False,
    ),
    Case(
        "POST",
        "/api/v1/users",
        201,
        {"username": "other-clerk", "password": PASSWORD, "role": "picker"},
        own=True,
    ),
    # usernames are unique per account (issue 13, finding 3): A's user's name, in any case,
    # is free in B, so "taken" tells B nothing of A; A's user stays as it was
    Case(
        "POST",
        "/api/v1/users",
        201,
        {"username": "Demo-Picker", "password": PASSWORD, "role": "picker"},
        own=True,
    ),
    # B's own rate card and courier bill for B's own SF (made above)
    Case(
        "PUT",
        "/api/v1/finance/couriers/{carrier}/rate-card",
        200,
        {"zones": [{"provinces": ["*"], "first_fee": "10.00", "per_kg": "2.00"}]},
        params={"carrier": "SF"},
        own=True,
    ),
    Case(
        "POST",
        "/api/v1/finance/couriers/{carrier}/bills",
        201,
        csv="tracking_number,date,destination,weight_kg,fee\nBTRACK0001,2026-12-05,北京,1.0,10.00\n",
        params={"carrier": "SF"},
        own=True,
    ),
]

#: Every list route (GET, no path parameter): queries aimed at A's data return none of it.
LISTS: dict[str, list[dict[str, str]]] = {
    "/api/v1/nodes": [{}],
    "/api/v1/events": [{}, {"node": NODE}],
    "/api/v1/ingest": [{}],
    "/api/v1/auth/me": [{}],
    "/api/v1/users": [{}],
    "/api/v1/skus": [{}, {"q": "金甲"}],
    "/api/v1/skus/export": [{"format": "csv"}, {"format": "xlsx"}],
    "/api/v1/warehouses": [{}],
    "/api/v1/stock/overview": [{}, {"q": "鸟语花香"}],
    "/api/v1/stock/movements": [{}, {"document": "order:JY1300001"}, {"sku_code": FILM}],
    "/api/v1/orders": [{}, {"q": "JY13"}, {"status": "audited"}],
    "/api/v1/rules": [{}],
    "/api/v1/carriers": [{}],
    "/api/v1/tasks": [{}, {"status": "done"}],
    "/api/v1/channels/shops": [{}],
    "/api/v1/channels/runs": [{}, {"shop": "A-SHOP"}],
    "/api/v1/channels/waybill-sources": [{}],
    "/api/v1/channels/waybill-pools": [{}],
    "/api/v1/channels/changes": [{}, {"shop": "A-SHOP"}, {"outcome": "after_sales"}],
    "/api/v1/suppliers": [{}],
    "/api/v1/purchase-orders": [{}, {"status": "confirmed"}, {"sku_code": LEATHER}],
    "/api/v1/transfers": [{}, {"status": "done"}, {"sku_code": FILM}],
    "/api/v1/finance/trial-balance": [{}, {"period": "2020-01"}],
    "/api/v1/einvoices": [{}, {"state": "issued"}],
    "/api/v1/finance/courier-bills": [{}],
    "/api/v1/finance/supplier-docs": [{}, {"supplier": "DG-LEATHER"}],
    "/api/v1/finance/statements/buyers": [{"buyer": "甲方买家"}, {"buyer": "buyer-001"}],
    "/api/v1/finance/periods": [{}],
    "/api/v1/finance/settlements": [{}],
    "/api/v1/finance/settlements/unmatched": [{}],
    "/api/v1/finance/fundflow-bills": [{}],
    "/api/v1/finance/wechat-jobs": [{}],
    "/api/v1/aftersales": [{}, {"order_no": "JY1300120"}, {"status": "requested"}],
    "/api/v1/aftersales-refunds": [{}],
    "/api/v1/aftersales-settings": [{}],
}
#: List routes that leak today; each has a strict xfail test below that names the bug.
KNOWN_LEAKS: set[str] = set()

#: Routes that hold no account's objects, so there is nothing to probe.
ALLOWED = {
    # login: the form names a user, the answer is the caller's own token
    ("POST", "/api/v1/auth/token"),
    # liveness of the database and the broker, the same for everyone
    ("GET", "/api/v1/health"),
    # the API's description and its viewers (no data; off unless Settings.api_docs)
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    # the hub's own figures (no seller's data), behind the scrape token (cloud/api/metrics.py)
    ("GET", "/metrics"),
    # the platform operator's (creates accounts; no seller's token reaches it, off unless
    # GUANJIA_OPERATOR_TOKEN is set): tests/cloud/api/test_security.py
    ("POST", "/api/v1/platform/accounts"),
    # a marketplace's webhook: no user's token, verified by the shop's own app secret (HMAC
    # over the body; a shop code of another seller without its secret is 401, nothing
    # stored): tests/cloud/channels/test_shopify.py
    ("POST", "/api/v1/channels/webhooks/shopify/{shop_code}"),
}


# --- routes -----------------------------------------------------------------------------


def _app(database_url: str) -> FastAPI:
    return create_app(
        Settings(
            database_url=database_url,
            mqtt_host="",
            jwt_secret="test-secret-of-at-least-32-bytes-long",
            # Every route the hub can serve is on, so each must be probed or allowed.
            api_docs=True,
            operator_token="operator-token-of-at-least-32-bytes",
        ),
        ingest=False,
    )


def _routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    """Every (method, path) the app answers, with its route object."""

    def walk(routes: list[Any]) -> Any:
        for r in routes:
            # FastAPI ≥ 0.16x keeps an included router as one entry that expands to its routes
            # (nested inclusions flattened); older versions list the APIRoutes themselves.
            expand = getattr(r, "effective_route_contexts", None)
            if expand is not None:
                yield from expand()
            else:
                yield r

    out: dict[tuple[str, str], Any] = {}
    for r in walk(app.routes):
        methods = getattr(r, "methods", None)
        # A mount or websocket has no methods: it must be allow-listed (or probed) as "*".
        for m in methods or {"*"}:
            if m != "HEAD":
                out[(m, r.path)] = r
    return out


def _dashboard(path: str) -> bool:
    return path == "/" or path == "/web" or path.startswith("/web/")


def test_every_route_is_probed_or_allowed() -> None:
    """A route without a tenancy probe (or a reason in ALLOWED) fails here."""
    app = _app("sqlite://")
    routes = _routes(app)
    # The walk must see at least what the OpenAPI document describes.
    documented = {
        (m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops if m != "head"
    }
    assert documented <= set(routes), sorted(documented - set(routes))

    probed = {(c.method, c.route) for c in FOREIGN + OWN}
    listed = {("GET", p) for p in LISTS}
    missing = [
        key
        for key in sorted(routes)
        # The dashboard's pages and actions: probed by tests/cloud/web/test_tenancy.py (its
        # own meta-test fails for a route there without a probe).
        if not _dashboard(key[1])
        and key not in ALLOWED
        and ("{" in key[1] or key[0] != "GET" or key not in listed)
        and key not in probed
    ]
    assert not missing, f"routes without a tenancy probe: {missing}"
    stale = sorted((probed | listed | ALLOWED) - set(routes))
    assert not stale, f"probes for routes that do not exist: {stale}"
    for _, path in listed:
        assert "{" not in path, path
    for key in probed:
        assert "{" in key[1] or key[0] != "GET", f"{key}: a list route belongs in LISTS"
    for key in sorted(routes):
        if "{" in key[1] and key not in ALLOWED and not _dashboard(key[1]):
            # At one of A's real objects: a foreign probe A's control proves reaches it, or
            # (create-or-replace routes) B's own object under A's identifier.
            assert any(
                (c.method, c.route) == key and (c.control or c.own) for c in FOREIGN + OWN
            ), f"{key}: no probe at one of A's real objects"


def test_probe_bodies_are_valid_for_their_routes() -> None:
    """Each JSON body passes its route's model, so a probe fails at the lookup, not at 422."""
    routes = _routes(_app("sqlite://"))
    for c in FOREIGN + OWN:
        route = routes[(c.method, c.route)]
        model = getattr(route, "body_field", None)
        for body in (c.body, c.control_body):
            if body is None:
                continue
            assert model is not None, f"{c.method} {c.route} takes no JSON body"
            TypeAdapter(model.field_info.annotation).validate_python(body)
        if model is not None and c.body is None:
            # Only an optional body may be left out.
            TypeAdapter(model.field_info.annotation).validate_python(None)
        assert c.own or c.expect >= 400, f"{c.method} {c.route}: a foreign case expects a 2xx"
        assert not c.own or c.expect < 300, f"{c.method} {c.route}: an own case expects a 2xx"


# --- the two accounts -------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    engine: Engine
    a_id: int
    b_id: int
    a: dict[str, str]
    b: dict[str, str]
    #: Path parameter → one of A's real identifiers (``{receipt_id}`` style values too).
    params: dict[str, str]


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json()


def _a_orders(nos: dict[str, str], buyer: str) -> list[dict[str, Any]]:
    return [
        {
            "order_no": no,
            "buyer_nick": buyer,
            "recipient": BEIJING,
            "lines": [{"line_id": "1", "sku_code": PHONE_CASE, "qty": 2, "price_cents": 5900}],
        }
        for no in nos
    ]


def _ingest_leftovers(s: Session, now: datetime) -> None:
    """What ingest keeps of a node's bad messages (cloud/sync/worker.py): A's node's."""
    s.add(
        ParkedEvent(
            node_id=NODE,
            seq=99,
            raw={"order_id": "JY1300001", "note": "A-PARKED-MARKER"},
            reason="payload does not validate",
            received_at=now,
        )
    )
    s.add(
        IngestRejection(
            topic=f"guanjia/v1/{NODE}/events",
            node_id=NODE,
            reason="A-REJECTED-MARKER: not a batch",
            size=12,
            received_at=now,
        )
    )


def einvoice_connect(s: Session, account_id: int, now: datetime) -> None:
    einvoices.connect_seller(
        s,
        account_id,
        url="http://127.0.0.1:9",
        app_key="k",
        app_secret="s",
        access_token="t",
        seller_tax_id="91350100M000100Y43",
        seller_name="卖家",
        now=now,
    )


def _world(client: TestClient) -> World:
    """A: the demo seller plus orders in every state, a node with events, tasks, a parked
    event and an ingest rejection of its node. B: an admin with a warehouse, a SKU, stock
    and an order of its own, all under codes A does not use."""
    app: Any = client.app
    now = datetime.now(UTC)
    with app.state.sessions() as s, s.begin():
        seeded = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
        a_id = seeded["account_id"]
        # A's admin chose F10 columns on the dashboard (user_preference, cloud/stock/columns.py).
        from cloud.db.models import User
        from cloud.stock import columns

        admin = s.execute(select(User).where(User.account_id == a_id)).scalars().first()
        assert admin is not None
        columns.choose(s, admin.id, ["available", "name"], now)
    a = login(client, "admin", account="demo")
    make_account(client, "demo", role="picker", account_id=a_id)

    c = client
    _ok(
        c.post(
            "/api/v1/orders",
            headers=a,
            json={"orders": _a_orders(A_NEW, "甲方买家"), "auto_audit": False},
        )
    )
    _ok(c.post("/api/v1/orders", headers=a, json={"orders": _a_orders(A_AUDITED, "甲方买家")}))
    for no in ("JY1300103", "JY1300104"):
        _ok(c.post(f"/api/v1/orders/{no}/save", headers=a))
    _ok(c.post("/api/v1/orders/JY1300104/confirm", headers=a, json={}))
    for no in A_AUDITED:
        assert _ok(c.post(f"/api/v1/orders/{no}/release", headers=a))["status"] == "released"
    _ok(c.post("/api/v1/orders/JY1300113/ship", headers=a))
    # The node picks JY1300112: an event of A's node, and pick movements.
    picked = OrderPicked(
        node=NODE,
        epoch=1,
        seq=1,
        id=uuid.uuid4(),
        hlc=pack(int(now.timestamp() * 1000), 0),
        payload=OrderPickedPayload(
            order_id="JY1300112",
            version=1,
            station=NODE,
            lines=[PickedLine(line_id="1", sku_code=PHONE_CASE, qty=2, bin="A-02")],
        ),
    )
    # A unit's serial seen at A's returns table (cloud/stock/serials.py): a request the hub
    # does not know, so it books nothing (a task), but the serial's trace has a step.
    returned = ReturnReceived(
        node=NODE,
        epoch=1,
        seq=2,
        id=uuid.uuid4(),
        hlc=pack(int(now.timestamp() * 1000), 1),
        payload=ReturnReceivedPayload(
            receipt_id="A-RT-1",
            request="A-NO-REQUEST",
            warehouse="WH1",
            station=NODE,
            lines=[ReturnedLine(line_no=1, sku_code=PHONE_CASE, sellable=1, serials=[A_SERIAL])],
        ),
    )
    engine: Engine = app.state.engine
    with transaction(session_factory(engine)) as s:
        apply_batch(s, Batch(node=NODE, events=(picked, returned)), now)
        # A_SERIAL received twice on the API (two units carry it): a conflict with its task.
        for rid in ("A-SN-RC-1", "A-SN-RC-2"):
            line = receipts.ReceiptLine(PHONE_CASE, 1, serials=(A_SERIAL,))
            serial_conflicts.record_receipt(
                s, a_id, "PO-2026-001", rid, "WH1", [line], "admin", now
            )
        history.record(s, s.get_one(Node, NODE), now, timedelta(days=14))  # a history sample
        for n in (1, 2):
            tasks.open_task(s, a_id, "fact_conflict", f"A-TASK-MARKER {n}", now, node_id=NODE)
        _ingest_leftovers(s, now)
    # A's spare node: enrolled without an account, claimed by A with its code, assigned.
    with transaction(session_factory(engine)) as s:
        ownership.enroll(s, SPARE, None, "operator", now)
        row = s.get(NodeOwner, SPARE)
        assert row is not None
        row.claim_hash = ownership.claim_hash(CLAIM_CODE)
    _ok(c.post("/api/v1/nodes/claim", headers=a, json={"code": CLAIM_CODE}))
    _ok(c.put(f"/api/v1/nodes/{SPARE}/assignment", headers=a, json={"warehouse": "WH1"}))
    # A's receiving node, and a serial A's hub issued: A_SERIAL_2 received twice, the second
    # unit given a new serial, whose label goes to that node (cloud/inbound/serial_labels.py).
    with transaction(session_factory(engine)) as s:
        ownership.enroll(s, A_RCV, "demo", "operator", now)
    _ok(c.put(f"/api/v1/nodes/{A_RCV}/assignment", headers=a, json={"warehouse": "WH1"}))
    started = NodeStarted(
        node=A_RCV,
        epoch=1,
        seq=1,
        id=uuid.uuid4(),
        hlc=pack(int(now.timestamp() * 1000), 0),
        payload=NodeStartedPayload(software="test", station_kind="inbound"),
    )
    with transaction(session_factory(engine)) as s:
        apply_batch(s, Batch(node=A_RCV, events=(started,)), now)
        for rid in ("A-SN2-RC-1", "A-SN2-RC-2"):
            line = receipts.ReceiptLine(PHONE_CASE, 1, serials=(A_SERIAL_2,))
            serial_conflicts.record_receipt(
                s, a_id, "PO-2026-001", rid, "WH1", [line], "admin", now
            )
        issued = serial_conflicts.resolve(
            s, a_id, A_SERIAL_2, "A-SN2-RC-2", "new_serial", "admin", now
        )
    assert issued.new_serial is not None
    task_ids = [
        t["id"] for t in _ok(c.get("/api/v1/tasks", headers=a)) if "A-TASK-MARKER" in t["detail"]
    ]
    _ok(c.post(f"/api/v1/tasks/{task_ids[1]}/resolve", headers=a, json={"resolution": "seen"}))
    receipt = _ok(
        c.post(
            "/api/v1/stock/receipts",
            headers=a,
            json={"warehouse": "WH1", "sku_code": FILM, "qty": 3},
        )
    )["ids"][0]
    # A's purchase orders: a draft to confirm, two confirmed to close and to cancel, and a
    # receipt against the seeded PO-2026-001 (cloud/inbound/).
    for number, confirm in (("PO-A-DRAFT", False), ("PO-A-CLOSE", True), ("PO-A-CANCEL", True)):
        _ok(
            c.post(
                "/api/v1/purchase-orders",
                headers=a,
                json={
                    "number": number,
                    "warehouse": "WH1",
                    "supplier": "DG-LEATHER",
                    "lines": [{"sku_code": FILM, "qty": 10, "unit_price": "1.25"}],
                    "confirm": confirm,
                },
            )
        )
    _ok(
        c.post(
            "/api/v1/purchase-orders/PO-2026-001/receipts",
            headers=a,
            json={
                "receipt_id": "A-RC-1",
                "warehouse": "WH1",
                "lines": [{"sku_code": LEATHER, "qty": 2, "verdict": "fail", "reason": "torn"}],
            },
        )
    )
    # A's transfers WH1 → BCP of its film, one per state a control needs (cloud/inbound/).
    for number, steps in (
        ("TR-A-DRAFT", ()),
        ("TR-A-CANCEL", ()),
        ("TR-A-AUDIT", ("audit",)),
        ("TR-A-MOVE", ("audit",)),
        ("TR-A-RECV", ("audit", "ship")),
        ("TR-A-BACK", ("audit", "ship")),
        ("TR-A-DONE", ("audit", "ship")),
    ):
        _ok(
            c.post(
                "/api/v1/transfers",
                headers=a,
                json={
                    "number": number,
                    "from_warehouse": "WH1",
                    "to_warehouse": "BCP",
                    "lines": [{"sku_code": FILM, "qty": 2}],
                },
            )
        )
        for step in steps:
            _ok(c.post(f"/api/v1/transfers/{number}/{step}", headers=a))
    _ok(
        c.post(
            "/api/v1/transfers/TR-A-DONE/receipts",
            headers=a,
            json={
                "receipt_id": "A-TRC-1",
                "warehouse": "BCP",
                "lines": [{"sku_code": FILM, "qty": 2}],
            },
        )
    )
    _ok(
        c.post("/api/v1/transfers/TR-A-BACK/cancel-shipment", headers=a, json={"reason": "A's own"})
    )
    _ok(c.post("/api/v1/transfers/TR-A-BACK/ship", headers=a))
    # A node's shipment of an audited transfer (cloud/inbound/transfer_ship.py): every line
    # short, so it is recorded without moving the stock the probes below compare.
    _node_shipped(c, a, a_id, "TR-A-NODE", 0, now)
    # A node's shipment short by one (a rest left for ship-rest's control).
    _node_shipped(c, a, a_id, "TR-A-SHORT", 1, now)
    # Shipped short by one and its rest asked of the node (cancel-rest's control).
    _node_shipped(c, a, a_id, "TR-A-REST", 1, now)
    with app.state.sessions() as s, s.begin():
        transfer_pick.ship_rest(s, a_id, "TR-A-REST", "probe", now)
    adjusted = _ok(
        c.post(
            "/api/v1/stock/adjustments",
            headers=a,
            json={"warehouse": "WH1", "sku_code": FILM, "delta": -2, "reason": "torn"},
        )
    )["ids"][0]
    picker = next(
        u["id"] for u in _ok(c.get("/api/v1/users", headers=a)) if u["username"] == "demo-picker"
    )
    shipment_id = _a_channel_shop(engine, a_id, now)
    _a_aftersales(c, a)

    # A's import jobs: one done, and one a live process of the hub is running (its
    # heartbeat fresh for the whole test), so A's uploaded file is there to be probed too.
    r = c.post(
        "/api/v1/skus/import",
        headers={**a, "content-type": "text/csv"},
        content="sku_code,name,barcodes\nA-JOB-1,甲的导入,6901234567946\n".encode(),
    )
    assert r.status_code == 200, r.text
    with app.state.sessions() as s, s.begin():
        job = import_jobs.submit(s, a_id, "user:admin", "csv", b"sku_code,name\nJOB-1,n\n", now, 2)
        job.status, job.stage, job.claim = "running", "reading", "another-live-process"
        job.heartbeat_at = now + timedelta(hours=1)
        job_id = job.public_id

    # A's books: a moving-average cost (a receipt booked straight through the domain, so
    # the stock figures above stay as they are), a closed month, and the poster's entries
    # and cursors (tests turn the hub's poster off: tick it here).
    with app.state.sessions() as s, s.begin():
        seed_chart(s, a_id)
        bought = SupplierReceipt(
            "A-FIN-1", "DG-LEATHER", LEATHER, Decimal(1), Decimal(10), now.date()
        )
        record(s, a_id, bought, now)
        # A shipment of it: its cost per SKU is kept (fin_shipment_cost) for returns.
        sold = OrderShipped(
            "A-SHIP-1", "manual", Decimal("20.00"), (Line(LEATHER, Decimal(1)),), now.date()
        )
        record(s, a_id, sold, now)
        fin_ledger.close_period(s, a_id, "2020-01", "test", now)
        a_bill = settlements.import_bill(s, a_id, A_SETTLEMENT, "a.csv", "test", now).public_id
        # A's WeChat Pay bill job and a fund-flow bill reconciled (a withdrawal: listed).
        a_job = wechat_jobs.add_job(
            s,
            a_id,
            mchid="1900000109",
            serial_no="A-SERIAL",
            api_url="https://api.mch.weixin.qq.com",
            private_key=A_WECHAT_KEY,
            platform_key=A_WECHAT_PUBLIC,
            platform_serial="PUB_KEY_ID_A",
            first_day=date.fromisoformat(A_JOB_LAST) - timedelta(days=2),
            now=now,
        )
        a_job.last_day = date.fromisoformat(A_JOB_LAST)  # three days in, as runs leave it
        # A platform certificate of A's job (cloud/finance/wechat_certs.py): on its page.
        s.add(
            WechatPlatformCert(
                account_id=a_id,
                job_id=a_job.id,
                serial_no="A0CE47",
                effective_at=now - timedelta(days=1),
                expire_at=now + timedelta(days=1800),
                certificate="-----BEGIN CERTIFICATE----- A's",
                fetched_at=now,
            )
        )
        a_fundflow = wechat_fundflow.reconcile(
            s, a_id, A_FUNDFLOW, "a-ff.csv", "test", now
        ).public_id
    poster.tick(app.state.sessions, now + timedelta(minutes=1))
    # A's e-invoices: a provider connection and two issued blues (never sent: the worker
    # does not run in tests; marked issued so that A's own red and title change succeed).
    with app.state.sessions() as s, s.begin():
        einvoice_connect(s, a_id, now)
        for n in (1, 2):
            inv = einvoices.request_blue(
                s,
                a_id,
                einvoices.Buyer("甲方开票公司", "91110000600037341L"),
                [LineIn("甲的商品", "1090101990000000000", "0.13", 1, "113.00")],
                now,
                "test",
            )
            inv.request_no, inv.state, inv.number = (
                f"GJ-A-INV-{n}",
                "issued",
                f"2633200000000000000{n}",
            )
    # A's courier bill (cloud/finance/courier_bills.py): a rate card, a bill accepted into
    # the books, its unknown parcel's dispute resolved.
    with app.state.sessions() as s, s.begin():
        card = rate_cards.parse(
            "SF", {"zones": [{"provinces": ["*"], "first_fee": "10.00", "per_kg": "2.00"}]}
        )
        rate_cards.put(s, a_id, card, "test", now)
        bill = courier_bills.import_bill(s, a_id, "SF", "a-sf.csv", A_BILL, "csv", "test", now)
        courier_bills.accept(s, a_id, bill.id, "test", now)
        (line,) = courier_bills.lines_of(s, bill)
        courier_bills.resolve(s, a_id, bill.id, line.id, "0.00", "test", now)
        bill_id, line_id = bill.id, line.id
    # A's supplier payment and an order's refund confirmed by hand (cloud/finance/payables.py,
    # order_money.py), after the poster put the order's payment in the books.
    with app.state.sessions() as s, s.begin():
        pay = payables.SupplierDocIn("A-PAY-1", "DG-LEATHER", "payment", "5.00", now.date(), "1002")
        payables.record(s, a_id, pay, "test", now)
        order_money.confirm(
            s, a_id, "JY1300004", "refunded", "A-REFUND-REASON", "test", now.date(), now
        )

    # A's SKU entered by mistake: nothing refers to it, so A's control may delete it.
    _ok(
        c.put(
            f"/api/v1/skus/{A_SPARE}",
            headers=a,
            json={"sku_code": A_SPARE, "name": "录错的商品", "barcodes": ["6901234567953"]},
        )
    )

    b = make_account(client, "other")
    _ok(c.post("/api/v1/warehouses", headers=b, json={"code": "BWH", "name": "乙仓"}))
    _ok(
        c.put(
            f"/api/v1/skus/{B_SKU}",
            headers=b,
            json={"sku_code": B_SKU, "name": "乙商品", "barcodes": ["6909999999990"]},
        )
    )
    _ok(
        c.post(
            "/api/v1/stock/receipts",
            headers=b,
            json={"warehouse": "BWH", "sku_code": B_SKU, "qty": 10},
        )
    )
    _ok(
        c.post(
            "/api/v1/orders",
            headers=b,
            json={"orders": [_order(B_ORDER, B_SKU)], "auto_audit": False},
        )
    )
    b_id = account_id_of(c, b)
    assert a_id != b_id
    with app.state.sessions() as s, s.begin():
        einvoice_connect(s, b_id, now)
    return World(
        client=client,
        engine=engine,
        a_id=a_id,
        b_id=b_id,
        a=a,
        b=b,
        params={
            "order_no": "JY1300001",
            "sku_code": LEATHER,
            "code": "WH1",
            "node_id": NODE,
            "key": "hunan-sf",
            "movement_id": adjusted,
            "receipt_id": receipt,
            "user_id": str(picker),
            "task_id": str(task_ids[0]),
            "job_id": job_id,
            "shipment_id": str(shipment_id),
            "number": "PO-2026-001",
            "bill_id": str(bill_id),
            "line_id": str(line_id),
            "settlement_id": a_bill,
            "fundflow_id": a_fundflow,
            "mchid": "1900000109",
            "serial": A_SERIAL,
            "label_serial": issued.new_serial,
        },
    )


def _node_shipped(
    c: TestClient, a: dict[str, str], a_id: int, number: str, qty: int, now: datetime
) -> None:
    """A's audited transfer of two FILM from WH1 to BCP, shipped by its node with ``qty``
    of them, the line marked short (cloud/inbound/transfer_ship.py ``book``)."""
    transfer = {
        "number": number,
        "from_warehouse": "WH1",
        "to_warehouse": "BCP",
        "lines": [{"sku_code": FILM, "qty": 2}],
        "audit": True,
    }
    _ok(c.post("/api/v1/transfers", headers=a, json=transfer))
    shipped = TransferShippedPayload(
        shipment_id=f"{NODE}:{number}:s1",
        transfer_number=number,
        shipment=1,
        warehouse="WH1",
        station=NODE,
        lines=[ShippedLine(line_no=1, sku_code=FILM, qty=qty, short=True)],
    )
    with c.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        transfer_ship.book(s, a_id, NODE, shipped, now)


def _a_channel_shop(engine: Engine, a_id: int, now: datetime) -> int:
    """A's marketplace shop (cloud/channels): a watermark, a downloaded order, a run, a
    courier code and a failed shipment confirmation of its shipped order; the latter's id."""
    from cloud.channels import shops
    from cloud.channels.intake import store
    from cloud.channels.ports import ChannelTrade
    from cloud.db.channel_diff import ChannelDiff
    from cloud.db.models import ChannelCourier, ChannelRun, ChannelShipment

    with transaction(session_factory(engine)) as s:
        body = shops.ShopIn(
            code="A-SHOP",
            api_url="http://127.0.0.1:9/router/rest",
            app_key="A-KEY",
            app_secret="A-SECRET",
            session_key="A-SESSION",
            start_from=now,
        )
        shop = shops.add_shop(s, a_id, body, now)
        # A Shopify shop of A's with its WH1 mapped to a location (cloud/channels/
        # stock_locations.py).
        from cloud.db.channel_stock import ChannelShopLocation

        shopify_shop = shops.add_shop(
            s,
            a_id,
            shops.ShopIn(
                code="A-SHOPIFY",
                platform="shopify",
                api_url="http://127.0.0.1:9/admin/api/2024-10",
                app_key="a-shop.myshopify.com",
                app_secret="A-SHOPIFY-SECRET",
                session_key="A-SHOPIFY-TOKEN",
                start_from=now,
            ),
            now,
        )
        s.add(
            ChannelShopLocation(
                shop_id=shopify_shop.id,
                warehouse="WH1",
                account_id=a_id,
                location_id="71001",
                location_name="A-LOCATION",
                changed_by="A-LEAD",
                changed_at=now,
            )
        )
        trade = ChannelTrade("A-TID-1", now, "WAIT_BUYER_PAY", "fixed", False, False, {})
        store(s, shop, [trade], now, now)
        shops.advance_watermark(s, shop, "orders", now, now)
        s.add(
            ChannelRun(
                account_id=a_id,
                shop_id=shop.id,
                stream="orders",
                owner="A-HUB",
                started_at=now,
                outcome="ok",
            )
        )
        s.add(ChannelCourier(account_id=a_id, shop_id=shop.id, carrier="ZTO", company_code="ZTO"))
        from cloud.db.shopify import ChannelWebhookCount, ChannelWebhookEvent

        s.add(  # A's shop's refused webhooks, counted (cloud/channels/shopify/webhooks.py)
            ChannelWebhookCount(
                account_id=a_id, shop_id=shop.id, outcome="bad_signature", count=2, last_at=now
            )
        )
        s.add(  # a webhook's hint of A's (cloud/channels/shopify/webhooks.py)
            ChannelWebhookEvent(
                account_id=a_id,
                shop_id=shop.id,
                event_id="A-EVENT-1",
                topic="orders/updated",
                external_id="A-TID-1",
                triggered_at=now,
                received_at=now,
                state="pending",
            )
        )
        s.add(ChannelDiff(account_id=a_id, shop_id=shop.id, next_diff_at=now, found_total=0))
        # Its stock push: a policy and a row per SKU (left clean: no hub pushes it here).
        from sqlalchemy import update

        from cloud.channels import stock_policy
        from cloud.db.channel_stock import ChannelStockItem

        stock_policy.set_policy(
            s, a_id, "A-SHOP", enabled=True, safety_stock=1, share_pct=80, now=now
        )
        s.execute(
            update(ChannelStockItem)
            .where(ChannelStockItem.shop_id == shop.id)
            .values(dirty=False, state="ok", target=7, error="A-STOCK-MARKER")
        )
        # A's Shopify shop pushed per location: one SKU's state at its location 71001.
        stock_policy.set_policy(
            s, a_id, "A-SHOPIFY", enabled=True, safety_stock=0, share_pct=100, now=now
        )
        from cloud.db.channel_stock import ChannelStockLocation

        first_item = s.execute(
            select(ChannelStockItem.id)
            .where(ChannelStockItem.shop_id == shopify_shop.id)
            .order_by(ChannelStockItem.id)
            .limit(1)
        ).scalar_one()
        s.add(ChannelStockLocation(item_id=first_item, location_id="71001", base=5, seq=1))
        shipped = s.execute(
            select(SalesOrder).where(
                SalesOrder.account_id == a_id, SalesOrder.order_no == "JY1300113"
            )
        ).scalar_one()
        row = ChannelShipment(
            account_id=a_id,
            shop_id=shop.id,
            order_id=shipped.id,
            external_id="A-TID-1",
            tracking_number=shipped.tracking_number,
            carrier=shipped.carrier,
            idempotency_key=f"{shipped.id}:{shipped.tracking_number}",
            state="failed",
            attempts=1,
            next_try_at=now,
            error="A-SHIPMENT-MARKER",
            created_at=now,
        )
        s.add(row)
        # e-waybills: A's ZTO draws from A-SHOP; A's order has a drawn waybill.
        from cloud.db.waybills import Waybill, WaybillSource

        sender = {"name": "甲", "phone": "13800000000", "province": "浙江省", "city": "杭州市"}
        s.add(
            WaybillSource(
                account_id=a_id,
                carrier="ZTO",
                shop_id=shop.id,
                cp_code="ZTO",
                sender={**sender, "address": "A-SENDER-MARKER"},
                template_url="",
                changed_at=now,
            )
        )
        s.add(
            Waybill(
                account_id=a_id,
                order_id=shipped.id,
                shop_id=shop.id,
                carrier="ZTO",
                cp_code="ZTO",
                idempotency_key=f"{shipped.id}:1:1",
                parcel=1,
                waybill_code=shipped.tracking_number,
                state="drawn",
                attempts=1,
                next_try_at=now,
                error="A-WAYBILL-MARKER",
                created_at=now,
            )
        )
        from cloud.db.waybills import PoolWaybill, WaybillPool

        # A's node was asked for its number back two days ago and never answered: A's
        # controls retire the node (target 3 → 0) and give the number back by force.
        s.add(WaybillPool(account_id=a_id, node_id=NODE, carrier="ZTO", target=3, changed_at=now))
        s.add(
            PoolWaybill(
                account_id=a_id,
                node_id=NODE,
                carrier="ZTO",
                shop_id=shop.id,
                cp_code="ZTO",
                idempotency_key=f"pool:{a_id}:{NODE}:ZTO:1",
                waybill_code="75APOOL0001",
                state="releasing",
                attempts=1,
                next_try_at=now,
                created_at=now,
                asked_at=now - timedelta(days=2),
            )
        )
        from decimal import Decimal

        from cloud.db.channel_changes import (
            ChannelChange,
            ChannelMessage,
            ChannelRefund,
            ChannelSkuMap,
        )

        s.add(
            ChannelSkuMap(
                account_id=a_id,
                shop_id=shop.id,
                outer_sku_id="A-OUTER-SEEN",
                sku_code=FILM,
                changed_at=now,
                changed_by="A",
            )
        )
        s.add(
            ChannelMessage(
                account_id=a_id,
                shop_id=shop.id,
                message_id="9100000001",
                topic="taobao_trade_TradeChanged",
                external_id="A-TID-1",
                received_at=now,
            )
        )

        s.add(
            ChannelRefund(
                account_id=a_id,
                shop_id=shop.id,
                refund_id="A-REFUND-1",
                external_id="A-TID-1",
                oid="1",
                status="WAIT_SELLER_AGREE",
                phase="aftersale",
                refund_fee=Decimal("1.00"),
                modified=now,
                payload={},
                versions=1,
                first_seen_at=now,
                changed_at=now,
            )
        )
        s.add(
            ChannelChange(
                account_id=a_id,
                shop_id=shop.id,
                external_id="A-TID-1",
                order_id=shipped.id,
                kind="refund",
                change_key="refund:A-REFUND-1:WAIT_SELLER_AGREE",
                outcome="after_sales",
                detail="A-CHANGE-MARKER",
                at=now,
            )
        )
        s.flush()
        return row.id


def _a_aftersales(c: TestClient, a: dict[str, str]) -> None:
    """A's after-sales requests against a shipped order of its own, one per state a probe
    needs, a received one with its refund instruction, and A's settings."""
    _ok(
        c.post(
            "/api/v1/orders", headers=a, json={"orders": _a_orders({"JY1300120": ""}, "甲方买家")}
        )
    )
    _ok(c.post("/api/v1/orders/JY1300120/release", headers=a))
    _ok(c.post("/api/v1/orders/JY1300120/ship", headers=a))
    # JY1300120 ships 2 units of line 1: two requests of one unit each; the rest on JY1300121
    _ok(
        c.post(
            "/api/v1/orders",
            headers=a,
            json={
                "orders": [
                    {**o, "lines": [{**o["lines"][0], "qty": 5}]}
                    for o in _a_orders({"JY1300121": ""}, "甲方买家")
                ]
            },
        )
    )
    _ok(c.post("/api/v1/orders/JY1300121/release", headers=a))
    _ok(c.post("/api/v1/orders/JY1300121/ship", headers=a))
    plan = {
        "AS-A-GET": "JY1300120",
        "AS-A-APPROVE": "JY1300120",
        "AS-A-REJECT": "JY1300121",
        "AS-A-RECEIVE": "JY1300121",
        "AS-A-CLOSE": "JY1300121",
    }
    for number, order_no in plan.items():
        _ok(
            c.post(
                "/api/v1/aftersales",
                headers=a,
                json={
                    "order_no": order_no,
                    "number": number,
                    "kind": "return",
                    "reason": "A-AS-MARKER",
                    "lines": [{"order_line_id": "1", "qty": 1}],
                },
            )
        )
    for number in ("AS-A-RECEIVE", "AS-A-CLOSE"):
        _ok(c.post(f"/api/v1/aftersales/{number}/approve", headers=a, json={}))
    _ok(
        c.post(
            "/api/v1/aftersales/AS-A-CLOSE/receive",
            headers=a,
            json={
                "receipt_id": "A-AS-RC-1",
                "warehouse": "WH1",
                "lines": [
                    {"line_no": 1, "sku_code": PHONE_CASE, "damaged": 1, "reason": "A-AS-MARKER"}
                ],
            },
        )
    )
    _ok(c.put("/api/v1/aftersales-settings", headers=a, json={"damaged_warehouse": "DMG"}))
    _ok(
        c.put(
            "/api/v1/warehouses/WH1/damaged-warehouse", headers=a, json={"damaged_warehouse": "DMG"}
        )
    )


@pytest.fixture
def world(app_client: TestClient) -> World:
    return _world(app_client)


# --- A's rows ---------------------------------------------------------------------------

#: Tables that belong to no account.
#: ``login_attempts`` counts failed logins by hashed username and client address, before
#: anyone is known to belong to an account (cloud/login.py).
#: ``channel_webhook_rejection`` counts refused webhooks per reason: a refused one was
#: verified as no shop's, so it belongs to no account (cloud/channels/shopify/webhooks.py).
#: ``fin_entry_check`` (PostgreSQL) queues a statement's entry ids for the deferred balance
#: check, which deletes its row at COMMIT: empty between transactions, it holds no one's rows
#: (migration 0056_finance_balance_per_statement).
#: ``ingest_worker`` and ``ingest_partition`` are the hub's own ingest workers and which of
#: the 64 partitions of every node's events each leases (cloud/sync/partitions.py): a
#: partition holds many accounts' nodes, its row names none of them (migration 0068).
GLOBAL_TABLES = {
    "alembic_version",
    "login_attempts",
    "channel_webhook_rejection",
    "fin_entry_check",
    "ingest_worker",
    "ingest_partition",
}


def snapshot(engine: Engine, account_id: int) -> dict[str, list[str]]:
    """Every row of the account, table by table (sorted reprs, to compare and to diff).

    A row is the account's by its ``account_id``; else through its warehouse, its order, or
    its node (a node is the account's by its owner, cloud/nodes/ownership.py). A table none of these reaches
    fails the test: new tables must say whose rows they hold.
    """
    md = MetaData()
    md.reflect(engine)
    t = md.tables
    warehouses = select(t["warehouse"].c.id).where(t["warehouse"].c.account_id == account_id)
    orders = select(t["sales_order"].c.id).where(t["sales_order"].c.account_id == account_id)
    nodes = select(t["node_owner"].c.node_id).where(t["node_owner"].c.account_id == account_id)
    jobs = select(t["import_job"].c.id).where(t["import_job"].c.account_id == account_id)
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name, table in sorted(t.items()):
            cols = table.c
            if name == "account":
                where = cols.id == account_id
            elif "account_id" in cols:
                where = cols.account_id == account_id
            elif "warehouse_id" in cols:
                where = cols.warehouse_id.in_(warehouses)
            elif "order_id" in cols:
                where = cols.order_id.in_(orders)
            elif "node_id" in cols:
                where = cols.node_id.in_(nodes)
            elif "job_id" in cols:
                where = cols.job_id.in_(jobs)
            elif name == "channel_stock_location":  # a Shopify location's push of an item
                items = t["channel_stock_item"]
                where = cols.item_id.in_(select(items.c.id).where(items.c.account_id == account_id))
            elif "user_id" in cols:  # a user's own rows (user_preference: the dashboard's)
                users = select(t["app_user"].c.id).where(t["app_user"].c.account_id == account_id)
                where = cols.user_id.in_(users)
            elif name in GLOBAL_TABLES:
                continue
            elif name.startswith("order_search_"):
                # SQLite's FTS5 shadow tables of order_search (migration 0023): the index's
                # own storage; order_search itself is checked above by its order_id.
                continue
            else:
                pytest.fail(f"table {name}: no way to tell whose rows it holds; add it here")
            out[name] = sorted(repr(tuple(r)) for r in conn.execute(select(table).where(where)))
    return out


def markers(engine: Engine, a_id: int, b_id: int) -> set[str]:
    """A's identifying values; minus any that also occur in B's rows (B's own, legitimately)."""
    with engine.connect() as conn:

        def col(*columns: Any) -> list[str]:
            out: list[str] = []
            for c in columns:
                rows = conn.execute(select(c).where(c.class_.account_id == a_id)).scalars()
                out.extend(str(v) for v in rows if v is not None)
            return out

        values = set(A_MARKERS) | {NODE, SPARE, A_RCV}
        values.update(
            col(
                SalesOrder.order_no,
                SalesOrder.tracking_number,
                SalesOrder.buyer_nick,
                Sku.sku_code,
                Sku.name,
                Barcode.barcode,
                Warehouse.name,
                StockMovement.id,
                Rule.rule_key,
                Rule.name,
                Carrier.name,
                User.username,
                PurchaseOrder.number,
                Supplier.name,
                Task.detail,
                WechatBillJob.serial_no,
                WechatBillJob.platform_serial,
            )
        )
        for r in conn.execute(
            select(SalesOrder.recipient).where(SalesOrder.account_id == a_id)
        ).scalars():
            values.update((r["name"], r["phone"], r["address"]))
        assert (
            NODE
            in conn.execute(select(NodeAssignment.node_id).where(NodeAssignment.account_id == a_id))
            .scalars()
            .all()
        )
    b_text = "\n".join(line for rows in snapshot(engine, b_id).values() for line in rows)
    # Two-letter codes (SF) occur anywhere; two Chinese characters (顺丰) are a name.
    return {v for v in values if len(v.encode()) >= 3 and v not in b_text}


def _text(r: httpx.Response) -> str:
    if r.headers.get("content-type", "").endswith("spreadsheetml.sheet"):
        return json.dumps(import_export.parse_xlsx(r.content), ensure_ascii=False, default=str)
    return r.text


def leaks(r: httpx.Response, sent: str, a_values: set[str]) -> list[str]:
    """A's values in the answer, except what B's own request named."""
    text = _text(r)
    return sorted(v for v in a_values if v in text and v not in sent)


# --- probes -----------------------------------------------------------------------------


def _path(c: Case, params: dict[str, str]) -> str:
    values = {**params, **{k: v.format(**params) for k, v in c.params.items()}}
    names = re.findall(r"{(\w+)}", c.route)
    missing = [n for n in names if n not in values]
    assert not missing, f"{c.route}: no identifier of A for {missing}"
    return c.route.format(**values)


def send(
    client: TestClient, c: Case, headers: dict[str, str], params: dict[str, str], body: Any = None
) -> tuple[httpx.Response, str]:
    """The request, and its text (what an answer may echo back)."""
    path = _path(c, params)
    body = body if body is not None else c.body
    if c.data is not None:
        r = client.request(c.method, path, headers=headers, content=c.data)
        return r, path
    if c.csv is not None:
        r = client.request(
            c.method,
            path,
            headers={**headers, "content-type": "text/csv"},
            content=c.csv.encode(),
        )
        return r, path + c.csv
    r = client.request(c.method, path, headers=headers, json=body)
    return r, path + json.dumps(body, ensure_ascii=False)


def test_b_reads_and_changes_nothing_of_a(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w, client = world, world.client
    # A's control of PUT …/locations/WH1 reads its shop's locations from Shopify: a stand-in
    # (B's probes are refused before any read).
    from cloud.channels import runner

    monkeypatch.setattr(runner, "locations_of", lambda _shop: {"71001": "A-LOCATION"})
    before = snapshot(w.engine, w.a_id)
    empty = [t for t, rows in before.items() if not rows]
    assert not empty, f"A has no rows in {empty}: the probes would prove nothing there"
    a_values = markers(w.engine, w.a_id, w.b_id)
    assert {"JY1300001", NODE, LEATHER, w.params["movement_id"]} <= a_values

    wrong: list[tuple[Any, ...]] = []
    for path, queries in LISTS.items():
        if path in KNOWN_LEAKS:
            continue
        for query in queries:
            r = client.get(path, params=query, headers=w.b)
            leaked = leaks(r, path + json.dumps(query, ensure_ascii=False), a_values)
            if r.status_code != 200 or leaked:
                wrong.append(("GET", path, query, r.status_code, leaked, r.text[:300]))
    assert account_id_of(client, w.b) == w.b_id
    assert [o["order_no"] for o in client.get("/api/v1/orders", headers=w.b).json()] == [B_ORDER]

    # Foreign cases first: B has no object yet under any of A's codes.
    for c in FOREIGN:
        r, sent = send(client, c, w.b, w.params)
        leaked = leaks(r, sent, a_values)
        if r.status_code != c.expect or leaked:
            wrong.append((c.method, c.route, c.body, r.status_code, leaked, r.text[:300]))
    own = [(c, *send(client, c, w.b, w.params)) for c in OWN]
    # B's objects now carry some of A's codes (a rule key, a warehouse code): those are B's.
    a_values = markers(w.engine, w.a_id, w.b_id)
    for c, r, sent in own:
        leaked = leaks(r, sent, a_values)
        if r.status_code != c.expect or leaked:
            wrong.append((c.method, c.route, c.body, r.status_code, leaked, r.text[:300]))
    assert not wrong, "\n".join(map(str, wrong))

    after = snapshot(w.engine, w.a_id)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not changed, f"B's probes changed A's rows: {changed}"

    # The controls: A's same requests succeed, so each probe above met the lookup it tests.
    for c in FOREIGN:
        if c.control:
            r, _ = send(client, c, w.a, w.params, c.control_body)
            assert r.status_code < 300, ("control", c.method, c.route, r.status_code, r.text)


def test_ingest_report_shows_b_nothing_of_a(app_client: TestClient) -> None:
    app: Any = app_client.app
    now = datetime.now(UTC)
    with app.state.sessions() as s, s.begin():
        a_id = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])["account_id"]
        _ingest_leftovers(s, now)
    b = make_account(app_client, "other")
    b_id = account_id_of(app_client, b)
    a_values = markers(app.state.engine, a_id, b_id)
    r = app_client.get("/api/v1/ingest", headers=b)
    assert r.status_code == 200
    body = r.json()
    assert body["parked_events"] == [] and body["recent_rejections"] == []
    assert body["rejected_by_reason"] == {} and body["rejected_total"] == 0
    assert body["parked_total"] == 0
    assert leaks(r, "/api/v1/ingest", a_values) == []
    # The worker's process-wide counters mix every account's nodes: not in the answer.
    assert not {"batches", "events", "duplicates", "gaps", "parked"} & set(body)


def test_ingest_report_shows_an_account_its_own_nodes_only(app_client: TestClient) -> None:
    """A sees its node's parked event and rejection; a rejection naming no node, or a node
    that is no account's, is shown to no account (the default one included)."""
    app: Any = app_client.app
    now = datetime.now(UTC)
    with app.state.sessions() as s, s.begin():
        seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
        _ingest_leftovers(s, now)
        for node, marker in ((None, "NO-NODE-MARKER"), ("ghost-node", "GHOST-MARKER")):
            s.add(
                IngestRejection(
                    topic="guanjia/v1/garbage",
                    node_id=node,
                    reason=f"{marker}: topic not understood",
                    size=3,
                    received_at=now,
                )
            )
    a = login(app_client, "admin", account="demo")
    r = app_client.get("/api/v1/ingest", headers=a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(p["node_id"], p["seq"]) for p in body["parked_events"]] == [(NODE, 99)]
    assert body["parked_total"] == 1
    assert [x["node_id"] for x in body["recent_rejections"]] == [NODE]
    assert body["rejected_by_reason"] == {"A-REJECTED-MARKER: not a batch": 1}
    assert body["rejected_total"] == 1
    assert "NO-NODE-MARKER" not in r.text and "GHOST-MARKER" not in r.text
