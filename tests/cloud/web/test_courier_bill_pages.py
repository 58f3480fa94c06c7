"""/api/v1/finance/courier-bills, /rate-cards and /web/finance/courier-bills: by scope,
bad input refused with a sentence and nothing changed, the page in Chinese."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.courier_bill import CourierBill, CourierBillLine
from cloud.db.finance import FinEntry
from cloud.db.models import Account, SalesOrder, Warehouse
from cloud.finance import ledger
from tests.cloud.conftest import login
from tests.cloud.web.conftest import add_user

CARD = {
    "first_g": 1000,
    "step_g": 500,
    "precision_g": 10,
    "volumetric_divisor": 6000,
    "zones": [
        {
            "name": "江浙沪",
            "provinces": ["浙江", "江苏", "上海"],
            "first_fee": "12.00",
            "per_kg": "2.00",
        },
        {"name": "其他", "provinces": ["*"], "first_fee": "18.00", "per_kg": "5.00"},
    ],
}
BILL = (
    "tracking_number,date,destination,weight_kg,fee\n"
    "SFX2001,2026-12-05,浙江,1.2,13.00\n"  # fine
    "SFX2002,2026-12-05,浙江,0.8,15.00\n"  # overcharged by 3.00
    "SFX2003,2026-12-05,浙江,2.0,14.00\n"  # overweight, overcharged by 2.00
    "SFX2004,2026-12-05,广东,0.9,18.00\n"
    "SFX2004,2026-12-05,广东,0.9,18.00\n"  # a duplicate
    "SFX9999,2026-12-05,浙江,1.0,12.00\n"  # never ours
).encode()
CSV = {"content-type": "text/csv"}


def _orders(app: TestClient) -> int:
    now = datetime.now(UTC) - timedelta(days=1)
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seller = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        wh = s.execute(select(Warehouse.id).where(Warehouse.account_id == seller)).scalars().first()
        for no, tracking, grams, province in (
            ("CB-1", "SFX2001", 1200, "浙江省"),
            ("CB-2", "SFX2002", 800, "浙江省"),
            ("CB-3", "SFX2003", 1000, "浙江省"),
            ("CB-4", "SFX2004", 900, "广东省"),
        ):
            s.add(
                SalesOrder(
                    id=f"cb-{no}",
                    account_id=seller,
                    order_no=no,
                    channel="manual",
                    status="shipped",
                    warehouse_id=wh,
                    carrier="SF",
                    buyer_nick="b",
                    recipient={"name": "r", "province": province, "city": "c", "address": "x"},
                    total_cents=1000,
                    tracking_number=tracking,
                    weighed_g=grams,
                    created_at=now,
                    changed_at=now,
                    changed_by="t",
                    shipped_at=now,
                )
            )
    return int(seller)


def test_import_flags_accept_once_resolve_by_scope(demo_app: TestClient) -> None:
    seller = _orders(demo_app)
    add_user(demo_app, "demo", "kuaiji", "finance")
    add_user(demo_app, "demo", "shenhe", "auditor")
    fin = login(demo_app, "kuaiji", account="demo")
    auditor = login(demo_app, "shenhe", account="demo")
    url = "/api/v1/finance/courier-bills"
    sf = "/api/v1/finance/couriers/SF/bills"
    assert (
        demo_app.put(
            "/api/v1/finance/couriers/SF/rate-card", json=CARD, headers=auditor
        ).status_code
        == 403
    )
    r = demo_app.put("/api/v1/finance/couriers/SF/rate-card", json=CARD, headers=fin)
    assert r.status_code == 200, r.text
    bad_card = {**CARD, "zones": [{"provinces": ["*"], "first_fee": 12.5, "per_kg": "1"}]}
    r = demo_app.put("/api/v1/finance/couriers/SF/rate-card", json=bad_card, headers=fin)
    assert r.status_code == 422 and "not a float" in r.text
    assert (
        demo_app.get("/api/v1/finance/couriers/SF/rate-card", headers=fin).json()["zones"]
        == CARD["zones"]
    )
    assert (
        demo_app.put("/api/v1/finance/couriers/NOPE/rate-card", json=CARD, headers=fin).status_code
        == 404
    )

    assert demo_app.post(sf, content=BILL, headers={**auditor, **CSV}).status_code == 403
    r = demo_app.post(sf, params={"file_name": "sf.csv"}, content=BILL, headers={**fin, **CSV})
    assert r.status_code == 201, r.text
    got = r.json()
    flags = {ln["row_no"]: ln["flags"] for ln in got["lines"]}
    assert flags == {
        2: [],
        3: ["overcharged"],
        4: ["overweight", "overcharged"],
        5: ["duplicate"],
        6: ["duplicate"],
        7: ["missing"],
    }
    bill = got["bill"]
    assert (bill["billed_total"], bill["accepted_total"], bill["disputed_total"]) == (
        "90.00",
        "55.00",
        "35.00",
    )
    again = demo_app.post(sf, content=BILL, headers={**fin, **CSV})
    assert again.status_code == 409 and "imported already" in again.text
    bad = demo_app.post(
        sf,
        headers={**fin, **CSV},
        content=b'tracking_number,date,destination,weight_kg,fee\nSFX3001,2026-12-05,x,1,"1,000.00"\nSFX3002,2026-12-05,x,1,1.005\n',
    )
    assert bad.status_code == 422
    assert [d["loc"] for d in bad.json()["detail"]] == [
        ["body", "file", 2, "fee"],
        ["body", "file", 3, "fee"],
    ]
    assert (
        demo_app.post(
            sf,
            content=b"x",
            headers={**fin, "content-type": "image/png"},
        ).status_code
        == 415
    )
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(func.count()).select_from(CourierBill)).scalar_one() == 1

    listed = demo_app.get(url, headers=fin).json()
    assert [b["id"] for b in listed] == [bill["id"]]
    assert demo_app.get(url, headers=auditor).status_code == 403
    one = f"{url}/{bill['id']}"
    assert demo_app.get(one, headers=fin).json()["bill"]["state"] == "open"
    assert demo_app.post(f"{one}/accept", headers=auditor).status_code == 403
    first = demo_app.post(f"{one}/accept", headers=fin).json()
    second = demo_app.post(f"{one}/accept", headers=fin).json()
    assert first["posted"]["created"] is True and second["posted"]["created"] is False
    assert first["posted"]["entry_id"] == second["posted"]["entry_id"]
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert (
            s.execute(
                select(func.count())
                .select_from(FinEntry)
                .where(FinEntry.source_doc == f"courier-bill:{bill['id']}")
            ).scalar_one()
            == 1
        )
        assert ledger.replayed_balances(s, seller)["1901"] == Decimal("35.00")

    line = next(ln for ln in got["lines"] if ln["row_no"] == 3)
    res = f"{one}/lines/{line['id']}/resolve"
    for body, status, why in (
        ({"credited": 3.0}, 422, "not a float"),
        ({"credited": "3.001"}, 422, "more than two decimals"),
        ({"credited": "4.00"}, 422, "0.00 to 3.00"),
        ({"credited": "-1.00"}, 422, "0.00 to 3.00"),
    ):
        r = demo_app.post(res, json=body, headers=fin)
        assert r.status_code == status and why in r.text, (body, r.text)
    ok = demo_app.post(res, json={"credited": "3.00"}, headers=fin)
    assert ok.status_code == 200 and ok.json()["line"]["resolution"] == "credited"
    assert (
        demo_app.post(res, json={"credited": "3.00"}, headers=fin).json()["posted"]["created"]
        is False
    )
    assert demo_app.post(res, json={"credited": "0.00"}, headers=fin).status_code == 409
    fine = next(ln for ln in got["lines"] if ln["row_no"] == 2)
    r = demo_app.post(f"{one}/lines/{fine['id']}/resolve", json={"credited": "0.00"}, headers=fin)
    assert r.status_code == 409 and "not disputed" in r.text
    assert demo_app.get(f"{url}/999999", headers=fin).status_code == 404
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert ledger.replayed_balances(s, seller)["1901"] == Decimal("32.00")
        assert sum(ledger.replayed_balances(s, seller).values()) == 0


def test_courier_bill_page_in_chinese_and_accept_by_form(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    _orders(demo_app)
    admin = login(demo_app, "admin", account="demo")
    demo_app.put("/api/v1/finance/couriers/SF/rate-card", json=CARD, headers=admin)
    r = demo_app.post(
        "/api/v1/finance/couriers/SF/bills",
        params={"file_name": "sf-dec.csv"},
        content=BILL,
        headers={**admin, **CSV},
    )
    bill_id = r.json()["bill"]["id"]
    a = browser_client()
    zh = {"Accept-Language": "zh-CN"}
    listing = a.get("/web/finance/courier-bills", headers=zh).text
    assert "快递对账单" in listing and "sf-dec.csv" in listing
    page = a.get(f"/web/finance/courier-bills/{bill_id}", headers=zh).text
    assert "多收运费" in page and "超重" in page and "重复计费" in page and "非我方发货" in page
    assert "SFX9999" in page and "35.00" in page
    r = a.post(
        f"/web/finance/courier-bills/{bill_id}/accept",
        data={"csrf": a.csrf},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "账单已入账" in a.get(r.headers["location"], headers=zh).text
    # the duplicate's second line resolved by the form: credited in full
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        line_id = s.execute(
            select(CourierBillLine.id).where(
                CourierBillLine.bill_id == bill_id, CourierBillLine.row_no == 6
            )
        ).scalar_one()
    form = f"/web/finance/courier-bills/{bill_id}/lines/{line_id}/resolve"
    bad = a.post(form, data={"csrf": a.csrf, "credited": "18,00"}, headers=zh)  # type: ignore[attr-defined]
    assert bad.status_code == 422 and "18,00" in bad.text
    r = a.post(form, data={"csrf": a.csrf, "credited": "18.00"}, follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303
    assert "该明细已转出待处理" in a.get(r.headers["location"], headers=zh).text
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.get(CourierBillLine, line_id).resolution == "credited"  # type: ignore[union-attr]
    # a bill uploaded by the form: imported and reconciled, then its page
    upload = a.post(
        "/web/finance/courier-bills",
        data={"csrf": a.csrf, "carrier": "SF"},  # type: ignore[attr-defined]
        files={"file": ("sf-jan.csv", BILL.replace(b"2026-12-05", b"2027-01-05"), "text/csv")},
        follow_redirects=False,
    )
    assert upload.status_code == 303, upload.text
    page = a.get(upload.headers["location"], headers=zh).text
    assert "sf-jan.csv" in page and "重复计费" in page
    again = a.post(
        "/web/finance/courier-bills",
        data={"csrf": a.csrf, "carrier": "SF"},  # type: ignore[attr-defined]
        files={"file": ("sf-jan.csv", BILL.replace(b"2026-12-05", b"2027-01-05"), "text/csv")},
        headers=zh,
    )
    assert again.status_code == 409 and "该文件已导入过" in again.text
    assert a.post(f"/web/finance/courier-bills/{bill_id}/accept", data={}).status_code == 403
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = browser_client("demo", "shenhe")
    assert auditor.get("/web/finance/courier-bills").status_code == 403
    assert a.get("/web/finance/courier-bills/999999").status_code == 404
