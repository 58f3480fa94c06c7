"""Purchase orders, suppliers and a serial's trace on the dashboard (cloud/web/pages/
purchases.py, serials.py): the lists and one PO with a partial receipt in Chinese, the create
form (CSRF, the API's checks shown on the form, nothing stored when refused), the trace's
timeline, and a second seller seeing none of the first one's (404, nothing changed)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from cloud.db.engine import transaction
from cloud.nodes import ownership
from cloud.sync import assignment
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    NodeStarted,
    NodeStartedPayload,
    PoReceived,
    PoReceivedPayload,
    ReceivedLine,
    SerialLabelPrinted,
    SerialLabelPrintedPayload,
    StationKind,
    TransferReceived,
    TransferReceivedPayload,
)
from tests.cloud.aftersales.conftest import RECIPIENT
from tests.cloud.conftest import login
from tests.cloud.web.conftest import NODE, add_user

LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"  # on the seeded PO-2026-001 (cloud/seed.py)
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
SERIAL = "SN-PAGE-0001"
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"  # the demo seller's, stocked in WH1


def _shipped_order(app: TestClient, h: dict[str, str], order_no: str) -> None:
    order = {
        "order_no": order_no,
        "buyer_nick": "售后买家",
        "recipient": RECIPIENT,
        "warehouse": "WH1",
        "lines": [{"line_id": "1", "sku_code": CASE, "qty": 2, "price_cents": 5900}],
    }
    for path, body in (
        ("/api/v1/orders", {"orders": [order]}),
        (f"/api/v1/orders/{order_no}/release", None),
        (f"/api/v1/orders/{order_no}/ship", None),
    ):
        r = app.post(path, headers=h, json=body)
        assert r.status_code < 300, r.text


def _serial_fact(app: TestClient, seq: int = 1, receipt: str = "RC-PAGE-1") -> None:
    """A receipt of a serial unit at the demo node (its facts are the demo seller's)."""
    fact = PoReceived(
        node=NODE,
        epoch=1,
        seq=seq,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
        payload=PoReceivedPayload(
            receipt_id=receipt,
            po_number="PO-2026-001",
            warehouse="WH1",
            station=NODE,
            lines=[
                ReceivedLine(sku_code=LEATHER, qty=1, verdict="pass", bin="A-02", serials=[SERIAL])
            ],
        ),
    )
    with transaction(app.app.state.sessions) as s:  # type: ignore[attr-defined]
        apply_batch(s, Batch(node=NODE, events=(fact,)), datetime.now(UTC))


def test_purchase_pages_the_create_form_and_a_serials_trace(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    h = login(demo_app, "admin", account="demo")
    _serial_fact(demo_app)
    c = browser_client()
    page = c.get("/web/stock/purchase-orders", headers=ZH).text
    assert "采购单" in page and "PO-2026-001" in page and "部分入库" in page
    assert "PO-2026-001" not in c.get("/web/stock/purchase-orders?status=draft").text
    one = c.get("/web/stock/purchase-orders/PO-2026-001", headers=ZH).text
    assert LEATHER in one and "RC-PAGE-1" in one and "东莞皮具厂" not in one  # code, not name
    assert "入库记录" in one and re.search(r"已收 \d+ / 100 件", one)
    assert "东莞皮具厂" in c.get("/web/stock/suppliers", headers=ZH).text
    form = c.get("/web/stock/purchase-orders/new", headers=ZH).text
    assert "新建采购单" in form and f'name="csrf" value="{c.csrf}"' in form  # type: ignore[attr-defined]

    def post(lines: str, number: str = "PO-WEB-1", **extra: str) -> tuple[int, str]:
        data = {"number": number, "warehouse": "WH1", "supplier": "DG-LEATHER", "lines": lines}
        data.update({"eta": "2026-12-24", "tolerance_pct": "5", "csrf": c.csrf, **extra})  # type: ignore[attr-defined]
        r = c.post("/web/stock/purchase-orders", data=data, headers=ZH)
        return r.status_code, r.text

    before = demo_app.get("/api/v1/purchase-orders", headers=h).json()
    status, text = post(f"{LEATHER}*ten@12.50")
    assert status == 422 and "数量" in text and "ten@12.50" in text  # the form, as typed
    status, text = post("NO-SUCH-SKU*2@1.00")
    assert status == 422 and "NO-SUCH-SKU" in text and "未保存" in text
    status, text = post(f"{LEATHER}*2@1.00", number="PO-2026-001")
    assert status == 409 and "PO-2026-001" in text
    assert demo_app.get("/api/v1/purchase-orders", headers=h).json() == before
    r = c.post("/web/stock/purchase-orders", data={"number": "PO-WEB-1"}, headers=EN)
    assert r.status_code == 403  # no CSRF token
    status, text = post(f"{LEATHER}*2@1.00", delivery_refs="SF1400000021\nSF1400000021 ")
    assert status == 422 and "SF1400000021 重复出现" in text and "发货单号/运单号" in text
    assert demo_app.get("/api/v1/purchase-orders", headers=h).json() == before
    refs = " SF1400000021\n\nASN-WEB-1"  # blank rows skipped, each trimmed
    status, text = post(f"{LEATHER}*20@12.50\n", confirm="1", delivery_refs=refs)
    assert status == 200 and "PO-WEB-1" in text and "在途" in text
    assert "<li>SF1400000021</li>" in text and "<li>ASN-WEB-1</li>" in text
    po = demo_app.get("/api/v1/purchase-orders/PO-WEB-1", headers=h).json()
    assert po["status"] == "confirmed" and po["lines"][0]["unit_price"] == "12.5000"
    assert po["supplier"] == "DG-LEATHER" and "admin" in po["created_by"]
    assert po["delivery_refs"] == ["SF1400000021", "ASN-WEB-1"]
    # Replaced on the PO's page: too many is refused with what was typed, nothing changed.
    url = "/web/stock/purchase-orders/PO-WEB-1/delivery-refs"
    many = "\n".join(f"ASN-{n}" for n in range(33))
    r = c.post(url, data={"delivery_refs": many, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 422 and "最多填写 32 个" in r.text and "ASN-32" in r.text
    assert c.post(url, data={"delivery_refs": "X"}).status_code == 403  # no CSRF token
    r = c.post(url, data={"delivery_refs": "JD0001\nSF1400000021", "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "<li>JD0001</li>" in r.text and "ASN-WEB-1" not in r.text
    po = demo_app.get("/api/v1/purchase-orders/PO-WEB-1", headers=h).json()
    assert po["delivery_refs"] == ["JD0001", "SF1400000021"]

    trace = c.get(f"/web/stock/serials?serial={SERIAL}", headers=ZH).text
    assert (
        "序列号追踪" in trace and "入库（采购单）" in trace and "上架" in trace and "A-02" in trace
    )
    assert "质检合格" in trace and "冲突" not in trace
    _serial_fact(demo_app, 2, "RC-PAGE-2")  # the same serial received again: flagged
    trace = c.get(f"/web/stock/serials?serial={SERIAL}", headers=ZH).text
    assert "冲突" in trace and "已在库：来自收货单 RC-PAGE-1（PO-2026-001，仓库 WH1" in trace
    assert "又在收货单 RC-PAGE-2（PO-2026-001，仓库 WH1" in trace  # the first step red too
    # The lead's buttons on the flagged receipts; a post without the form's token is refused.
    assert trace.count("给这件商品换新序列号") == 2 and "认定此记录为错贴标签" in trace
    # The task links the trace, where the lead decides.
    queue = c.get("/web/tasks?kind=serial_conflict", headers=ZH).text
    assert f'href="/web/stock/serials?serial={SERIAL}">到序列号追踪页处理</a>' in queue
    form = {"serial": SERIAL, "receipt": "RC-PAGE-2", "action": "new_serial", "note": "换标"}
    assert c.post("/web/stock/serials/resolve", data=form).status_code == 403
    assert "给这件商品换新序列号" in c.get(f"/web/stock/serials?serial={SERIAL}").text
    r = c.post("/web/stock/serials/resolve", data={**form, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "冲突已处理" in r.text, r.text
    assert "已换新序列号" in r.text and "给这件商品换新序列号" not in r.text
    new = re.search(r"HUB-S\d{7}", r.text)
    assert new is not None
    got = c.get(f"/web/stock/serials?serial={new[0]}", headers=ZH).text
    assert "由中心为收货单 RC-PAGE-2 的那件商品签发（原序列号 SN-PAGE-0001）" in got
    _label_of_the_new_serial(c, demo_app, new[0])
    r = c.post("/web/stock/serials/resolve", data={**form, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 409 and "没有待处理的冲突" in r.text
    # Moved on a transfer (WH1's bin A-02 to A-01, shipped at the hub): the shipment shows.
    body = {
        "number": "TR-PAGE-1",
        "from_warehouse": "WH1",
        "to_warehouse": "WH1",
        "from_bin": "A-02",
        "to_bin": "A-01",
        "lines": [{"sku_code": LEATHER, "qty": 1}],
        "audit": True,
    }
    for path, json in (("/api/v1/transfers", body), ("/api/v1/transfers/TR-PAGE-1/ship", None)):
        r = demo_app.post(path, headers=h, json=json)
        assert r.status_code < 300, r.text
    moved = TransferReceived(
        node=NODE,
        epoch=1,
        seq=3,
        id=uuid.uuid4(),
        hlc=pack(int(datetime.now(UTC).timestamp() * 1000) + 1000, 0),
        payload=TransferReceivedPayload(
            receipt_id="RC-PAGE-T",
            transfer_number="TR-PAGE-1",
            warehouse="WH1",
            station=NODE,
            lines=[
                ReceivedLine(sku_code=LEATHER, qty=1, verdict="pass", bin="A-01", serials=[SERIAL])
            ],
        ),
    )
    with transaction(demo_app.app.state.sessions) as s:  # type: ignore[attr-defined]
        apply_batch(s, Batch(node=NODE, events=(moved,)), datetime.now(UTC))
    trace = c.get(f"/web/stock/serials?serial={SERIAL}", headers=ZH).text
    assert trace.index("调拨出库") < trace.index("入库（调拨单）")
    r = c.get("/web/stock/serials?serial=NOPE-1", headers=ZH)
    assert r.status_code == 404 and "NOPE-1" in r.text and "从未" in r.text
    assert c.get("/web/stock/serials", headers=EN).status_code == 200


def _started(app: TestClient, node: str, kind: StationKind) -> None:
    """``node`` enrolled to the demo seller, assigned to WH1, started as a ``kind`` station."""
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        ownership.enroll(s, node, "demo", "test", datetime.now(UTC))
        acct = ownership.account_of(s, node)
        assert acct is not None
        assignment.assign_node(s, acct, node, "WH1", "test", datetime.now(UTC))
    ms = int(datetime.now(UTC).timestamp() * 1000)
    started = NodeStarted(
        node=node, epoch=1, seq=1, id=uuid.uuid4(), hlc=pack(ms, 0),
        payload=NodeStartedPayload(software="t", station_kind=kind),
    )  # fmt: skip
    with transaction(app.app.state.sessions) as s:  # type: ignore[attr-defined]
        apply_batch(s, Batch(node=node, events=(started,)), datetime.now(UTC))


def _label_of_the_new_serial(c: TestClient, app: TestClient, new: str) -> None:
    """The new serial's label (cloud/inbound/serial_labels.py): not printed while no
    receiving node serves WH1 (print again says so), sent once one does, printed when its
    fact comes; then only a re-print with a reason, listed."""
    got = c.get(f"/web/stock/serials?serial={new}", headers=ZH).text
    assert "新序列号的标签" in got and "标签尚未打印。" in got
    assert "仓库 WH1 没有收货节点：请分配一个后重新打印。" in got and "重新打印" in got
    form = {"serial": new}
    assert c.post("/web/stock/serials/label", data=form).status_code == 403  # no CSRF token
    r = c.post("/web/stock/serials/label", data={**form, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 409 and "仓库 WH1 没有收货节点：请先为其分配一个" in r.text
    # Why no node prints it: WH1's nodes and their kinds. A handheld's receiving desk runs
    # on a pick node, which has no item label printer (docs/inbound.md).
    pda = "wh1-pda-web"
    _started(app, pda, "pick")
    got = c.get(f"/web/stock/serials?serial={new}", headers=ZH).text
    assert "只有收货工作站（工作站类型“inbound”）配有打印这种标签的商品标签打印机" in got
    assert "仓库 WH1 的节点：" in got and f"<li>{pda} · 工作站类型 pick</li>" in got
    assert f"<li>{NODE} · " in got and "请把新序列号手写在标签上" in got
    r = c.post("/web/stock/serials/label", data={**form, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 409, r.text  # a pick node is no fallback: it cannot print it
    en = c.get(f"/web/stock/serials?serial={new}", headers=EN).text
    assert f"<li>{pda} · station kind pick</li>" in en and "write the new serial" in en
    rcv = "wh1-rcv-web"
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        ownership.enroll(s, rcv, "demo", "test", datetime.now(UTC))
        acct = ownership.account_of(s, rcv)
        assert acct is not None
        assignment.assign_node(s, acct, rcv, "WH1", "test", datetime.now(UTC))
    ms = int(datetime.now(UTC).timestamp() * 1000)
    started = NodeStarted(
        node=rcv, epoch=1, seq=1, id=uuid.uuid4(), hlc=pack(ms, 0),
        payload=NodeStartedPayload(software="t", station_kind="inbound"),
    )  # fmt: skip
    with transaction(app.app.state.sessions) as s:  # type: ignore[attr-defined]
        apply_batch(s, Batch(node=rcv, events=(started,)), datetime.now(UTC))
    r = c.post("/web/stock/serials/label", data={**form, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "标签已发往节点打印。" in r.text, r.text
    assert "只有收货工作站" not in r.text and "仓库 WH1 的节点：" not in r.text
    assert f"已发往节点 {rcv}（1 次）；节点在线时打印。" in r.text
    assert "该节点离线；中心端最后一次收到它的消息是在" in r.text
    printed = SerialLabelPrinted(
        node=rcv, epoch=1, seq=2, id=uuid.uuid4(), hlc=pack(ms + 1000, 0),
        payload=SerialLabelPrintedPayload(
            request=f"{new}-1", serial=new, sku_code=LEATHER, printer="item-labels"
        ),
    )  # fmt: skip
    with transaction(app.app.state.sessions) as s:  # type: ignore[attr-defined]
        apply_batch(s, Batch(node=rcv, events=(printed,)), datetime.now(UTC))
    got = c.get(f"/web/stock/serials?serial={new}", headers=ZH).text
    assert f"由节点 {rcv} 打印（打印机 item-labels）" in got and "标签尚未打印" not in got
    assert f"节点 {rcv} 已在打印机 item-labels 上打印标签" in got  # the trace's step
    assert "补打标签" in got and "补打原因" in got
    r = c.post("/web/stock/serials/label", data={**form, "csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 409 and "如需再打一张，请选择补打" in r.text
    again = {**form, "reprint": "1", "note": "标签撕坏", "csrf": c.csrf}  # type: ignore[attr-defined]
    r = c.post("/web/stock/serials/label", data=again, headers=ZH)
    assert r.status_code == 200 and f"{new}-2 · 补打 · 标签撕坏" in r.text, r.text
    assert "要求补打" in r.text


def test_another_seller_sees_none_of_the_first_ones_purchases_or_serials(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    _serial_fact(demo_app)
    h = login(demo_app, "admin", account="demo")
    before = demo_app.get("/api/v1/purchase-orders/PO-2026-001", headers=h).json()
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert "PO-2026-001" not in b.get("/web/stock/purchase-orders").text
    assert "DG-LEATHER" not in b.get("/web/stock/suppliers").text
    new = b.get("/web/stock/purchase-orders/new").text
    assert "DG-LEATHER" not in new and "WH1" not in new
    assert b.get("/web/stock/purchase-orders/PO-2026-001").status_code == 404
    r = b.get(f"/web/stock/serials?serial={SERIAL}")
    assert r.status_code == 404 and LEATHER not in r.text
    # B resolving A's serial: 404, A's trace unchanged.
    _serial_fact(demo_app, 2, "RC-PAGE-2")  # received twice: a conflict A may resolve
    before = demo_app.get("/api/v1/purchase-orders/PO-2026-001", headers=h).json()
    a_trace = demo_app.get(f"/api/v1/serials/{SERIAL}", headers=h).json()
    assert a_trace["conflicts"] == 2
    form = {"serial": SERIAL, "receipt": "RC-PAGE-2", "action": "mislabel", "csrf": b.csrf}  # type: ignore[attr-defined]
    r = b.post("/web/stock/serials/resolve", data=form)
    assert r.status_code == 404 and LEATHER not in r.text
    assert demo_app.get(f"/api/v1/serials/{SERIAL}", headers=h).json() == a_trace
    # B printing the label of A's new serial again: 404, A's trace and label unchanged.
    r = demo_app.post(
        f"/api/v1/serials/{SERIAL}/resolve",
        headers=h,
        json={"receipt": "RC-PAGE-2", "action": "new_serial"},
    )
    assert r.status_code == 200, r.text
    new = r.json()["new_serial"]
    a_new = demo_app.get(f"/api/v1/serials/{new}", headers=h).json()
    assert len(a_new["labels"]) == 1
    r = b.post("/web/stock/serials/label", data={"serial": new, "reprint": "1", "csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404 and LEATHER not in r.text
    assert demo_app.get(f"/api/v1/serials/{new}", headers=h).json() == a_new
    # B's form naming A's supplier and warehouse: refused, nothing of A's changed.
    r = b.post(
        "/web/stock/purchase-orders",
        data={
            "number": "PO-2026-001",
            "warehouse": "WH1",
            "supplier": "DG-LEATHER",
            "lines": f"{LEATHER}*1@1.00",
            "csrf": b.csrf,  # type: ignore[attr-defined]
        },
    )
    assert r.status_code in (404, 422) and "东莞皮具厂" not in r.text
    r = b.post(
        "/web/stock/purchase-orders/PO-2026-001/delivery-refs",
        data={"delivery_refs": "SF-B-PROBE-1", "csrf": b.csrf},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    assert demo_app.get("/api/v1/purchase-orders/PO-2026-001", headers=h).json() == before
    # The transfer and after-sales forms: none of A's warehouses or order lines; B's posts
    # naming A's warehouses or A's shipped order are refused and create nothing of A's.
    _shipped_order(demo_app, h, "AS-FORM-A")
    assert "WH1" not in b.get("/web/stock/transfers/new").text
    r = b.get("/web/aftersales/new?order_no=AS-FORM-A")
    assert r.status_code == 404 and CASE not in r.text
    transfers = demo_app.get("/api/v1/transfers", headers=h).json()
    r = b.post(
        "/web/stock/transfers",
        data={"number": "DB-B-1", "from_warehouse": "WH1", "to_warehouse": "BCP",
              "lines": f"{CASE}*1", "csrf": b.csrf},  # type: ignore[attr-defined]
    )  # fmt: skip
    assert r.status_code in (404, 422) and CASE not in r.text.replace(f"{CASE}*1", "")
    r = b.post(
        "/web/aftersales",
        data={"order_no": "AS-FORM-A", "kind": "return", "lines": "1*1", "csrf": b.csrf},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    assert demo_app.get("/api/v1/transfers", headers=h).json() == transfers
    assert demo_app.get("/api/v1/aftersales?order_no=AS-FORM-A", headers=h).json() == []


def test_transfer_and_after_sales_create_forms(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    h = login(demo_app, "admin", account="demo")
    _shipped_order(demo_app, h, "AS-FORM-1")
    c = browser_client()
    csrf = c.csrf  # type: ignore[attr-defined]
    assert 'href="/web/stock/transfers/new"' in c.get("/web/stock/transfers").text
    assert "新建调拨单" in c.get("/web/stock/transfers/new", headers=ZH).text
    transfer = {"number": "DB-FORM-1", "kind": "same_price", "from_warehouse": "WH1"}
    transfer |= {"to_warehouse": "BCP", "csrf": csrf}
    before = demo_app.get("/api/v1/transfers", headers=h).json()
    r = c.post("/web/stock/transfers", data={**transfer, "lines": "NO-SUCH*2"}, headers=ZH)
    assert r.status_code == 422 and "NO-SUCH" in r.text and "未保存" in r.text
    r = c.post("/web/stock/transfers", data={**transfer, "lines": f"{CASE}*0"}, headers=EN)
    assert r.status_code == 422 and "Lines: row 1 qty: must be at least 1" in r.text
    r = c.post(
        "/web/stock/transfers",
        data={**transfer, "to_warehouse": "WH1", "lines": f"{CASE}*1"},
        headers=EN,
    )
    assert r.status_code == 422, r.text  # one warehouse and no bins: the domain's sentence
    assert demo_app.get("/api/v1/transfers", headers=h).json() == before
    r = c.post("/web/stock/transfers", data={**transfer, "lines": f"{CASE}*3", "audit": "1"})
    assert r.status_code == 200 and "DB-FORM-1" in r.text
    t = demo_app.get("/api/v1/transfers/DB-FORM-1", headers=h).json()
    assert t["status"] == "audited" and t["lines"][0]["qty"] == 3

    assert 'href="/web/aftersales/new"' in c.get("/web/aftersales").text
    form = c.get("/web/aftersales/new?order_no=AS-FORM-1", headers=ZH).text
    assert "新建售后单" in form and CASE in form  # the order's lines, to name them
    req = {"order_no": "AS-FORM-1", "kind": "return", "reason": "七天无理由", "csrf": csrf}
    r = c.post("/web/aftersales", data={**req, "lines": "1*5"}, headers=EN)
    assert r.status_code in (409, 422) and "1*5" in r.text  # more than shipped, as typed
    assert demo_app.get("/api/v1/aftersales?order_no=AS-FORM-1", headers=h).json() == []
    r = c.post("/web/aftersales", data={**req, "lines": "1*2"}, headers=ZH)
    assert r.status_code == 200 and "七天无理由" in r.text
    (got,) = demo_app.get("/api/v1/aftersales?order_no=AS-FORM-1", headers=h).json()
    assert got["kind"] == "return" and got["status"] == "requested"
    r = c.post("/web/aftersales", data={**req, "csrf": "forged", "lines": "1*1"})
    assert r.status_code == 403
    assert len(demo_app.get("/api/v1/aftersales?order_no=AS-FORM-1", headers=h).json()) == 1
