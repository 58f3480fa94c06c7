"""Page by page, a second seller sees none of the first one's data (docs/security.md, Tenancy)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.einvoice import EInvoice
from cloud.db.models import SalesOrder, User
from cloud.finance import poster, settlements
from tests.cloud.finance.test_settlements import csv as bill_csv
from tests.cloud.finance.test_settlements import row as bill_row
from tests.cloud.web.conftest import AUDITED, HELD, NODE, add_user, count_variance
from tests.cloud.web.test_channel_pages import seed_shop
from tests.cloud.web.test_einvoice_page import seed_invoice

SKU = "金甲系列皮套"  # in the demo seller's SKU codes
#: Every page of the dashboard; a test below fails when a page is added without a probe here.
PAGES = (
    "/web/",
    "/web/audit",
    "/web/orders",
    "/web/rules",
    "/web/couriers",
    "/web/stock",
    "/web/skus",
    "/web/tasks",
    "/web/fleet",
    "/web/pick-leases",
    "/web/users",
    "/web/channels",
    # The books: the ledger of customer prepayments names the orders paid (after the poster).
    "/web/finance?account=2203",
    # E-invoices: the demo seller's invoice for its order HELD (test_einvoice_page.seed_invoice).
    "/web/finance/invoices",
    # A's courier bills: its file's name on the list
    "/web/finance/courier-bills",
    # A buyer's statement (对账单) lists the buyer's orders (after the poster).
    f"/web/finance/statements?kind=buyer&party=buyer-{HELD[-3:]}",
    # Settlement bills: A's unmatched row names the held order (another amount).
    "/web/finance/settlements",
)
#: A shop of the first seller (its code on the Channels page).
SHOP = "tb-acme-shop"
#: The file name of the first seller's courier bill (on the Courier bills page).
BILL_FILE = "A-COURIER-BILL.csv"


def _a_courier_bill(app: TestClient) -> tuple[int, int]:
    """A courier bill of the demo seller, open (cloud/finance/courier_bills.py)."""
    from cloud.finance import courier_bills

    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seller = (
            s.execute(select(User.account_id).where(User.username == "admin")).scalars().first()
        )
        assert seller is not None
        data = b"tracking_number,date,destination,weight_kg,fee\nATRACK0001,2026-12-05,x,1,9.00\n"
        bill = courier_bills.import_bill(
            s, seller, "SF", BILL_FILE, data, "csv", "test", datetime.now(UTC)
        )
        (line,) = courier_bills.lines_of(s, bill)
        return bill.id, line.id


def test_other_seller_sees_nothing_of_the_first(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    tid = count_variance(demo_app)
    seed_invoice(demo_app, "http://127.0.0.1:9")  # stored only: never sent in this test
    seed_shop(demo_app, SHOP)
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        admin_id = s.execute(select(User.public_id).where(User.username == "admin")).scalar_one()
    add_user(demo_app, "other", "boss", "admin")
    # The first seller's orders into the books (the hub's poster is off in tests).
    poster.tick(demo_app.app.state.sessions, datetime.now(UTC) + timedelta(minutes=1))  # type: ignore[attr-defined]
    bill_id, line_id = _a_courier_bill(demo_app)
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seller = s.execute(select(User.account_id).where(User.username == "admin")).scalar_one()
        data = bill_csv([bill_row("81001", HELD, "99999.00", "", "99999.00", "在线支付")])
        bill = settlements.import_bill(s, seller, data, "a.csv", "t", datetime.now(UTC))
    b = browser_client("other", "boss")
    a = browser_client()
    for page in PAGES:
        mine, theirs = a.get(page).text, b.get(page).text
        secrets = (HELD, AUDITED, NODE, tid, SKU, "double11-sf", admin_id, SHOP, BILL_FILE)
        for secret in secrets:
            assert secret not in theirs, (page, secret)
        assert any(s in mine for s in secrets) or page == "/web/", page
    for path in (
        f"/web/orders/{HELD}",
        f"/web/audit?order={HELD}",
        f"/web/fleet/{NODE}",
        f"/web/orders/{AUDITED}/label.png",
        f"/web/channels/{SHOP}",
        f"/web/channels/{SHOP}/runs",
        f"/web/finance/courier-bills/{bill_id}",
        f"/web/finance/settlements/{bill.public_id}",
    ):
        assert b.get(path).status_code == 404, path
    r = b.post(f"/web/finance/courier-bills/{bill_id}/accept", data={"csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404 and BILL_FILE not in r.text
    r = b.post(
        f"/web/finance/courier-bills/{bill_id}/lines/{line_id}/resolve",
        data={"csrf": b.csrf, "credited": "0.00"},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    assert (
        "open"
        in a.get(f"/web/finance/courier-bills/{bill_id}", headers={"Accept-Language": "en"}).text
    )
    # B's invoice buttons on A's invoice and order: 404, nothing stored.
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        invoices_before = s.execute(select(func.count()).select_from(EInvoice)).scalar_one()
        a_invoice = s.execute(select(EInvoice.request_no)).scalars().first()
    r = b.post(
        f"/web/finance/invoices/{a_invoice}/red",
        data={"csrf": b.csrf, "reason": "01"},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    issue = {"order_no": HELD, "buyer_name": "个人", "tax_code": "1090101990000000000"}
    r = b.post("/web/finance/invoices/issue", data={**issue, "rate": "0.13", "csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404  # the order is not B's (its number is B's own input)
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(func.count()).select_from(EInvoice)).scalar_one() == invoices_before
    # B's "match again" matches B's rows only: A's row is still unmatched.
    r = b.post("/web/finance/settlements/match-again", data={"csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 200 and HELD in a.get(f"/web/finance/settlements/{bill.public_id}").text
    export = b.get("/web/orders/export.csv").content.decode("utf-8-sig")
    assert HELD not in export and AUDITED not in export
    # actions on the first seller's order and task: 404, and nothing changes
    for action, data in (("hold", {"reason": "x"}), ("release", {}), ("reject", {"reason": "x"})):
        r = b.post(f"/web/orders/{AUDITED}/{action}", data={**data, "csrf": b.csrf})  # type: ignore[attr-defined]
        assert r.status_code == 404, (action, r.text)
    r = b.post(f"/web/tasks/{tid}", data={"csrf": b.csrf, "resolution": "x", "approve": "no"})  # type: ignore[attr-defined]
    assert r.status_code == 404
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == AUDITED)).scalar_one()
        assert (o.status, o.on_hold) == ("audited", False)
    assert tid in a.get("/web/tasks").text  # still open
    # the second seller's home counts none of the first's orders
    home = b.get("/web/", headers={"Accept-Language": "en"}).text
    assert '<span class="n">1</span>' not in home


def test_every_detail_page_of_another_seller_is_not_found(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """Each detail page the browser walk opens (tests/cloud/web/test_walk_browser.py), with
    the first seller's document in its address: the first seller sees it, the second is
    told it does not exist (404) and is shown nothing of it."""
    from cloud.bench.dashboard_seed import seed_pages
    from cloud.catalogue import jobs

    engine = demo_app.app.state.engine  # type: ignore[attr-defined]
    docs = seed_pages(engine.url.render_as_string(hide_password=False))
    seed_shop(demo_app, SHOP)
    tid = count_variance(demo_app)
    bill_id, _ = _a_courier_bill(demo_app)
    now = datetime.now(UTC)
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seller = s.execute(select(User.account_id).where(User.username == "admin")).scalar_one()
        data = bill_csv([bill_row("81001", HELD, "99999.00", "", "99999.00", "在线支付")])
        settled = settlements.import_bill(s, seller, data, "a.csv", "t", now)
        job = jobs.submit(s, seller, "user:admin", "csv", b"sku_code,name\nX-1,x\n", now, 5)
        s.flush()
        ids = (settled.public_id, job.public_id)
    add_user(demo_app, "other", "boss", "admin")
    code = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"  # a whole SKU code of the demo seller
    details = {
        f"/web/orders/{HELD}": HELD,
        f"/web/skus/{code}": code,
        "/web/rules/double11-sf": "double11-sf",
        f"/web/fleet/{NODE}": NODE,
        f"/web/stock/transfers/{docs['transfer']}": docs["transfer"],
        f"/web/stock/purchase-orders/{docs['purchase_order']}": docs["purchase_order"],
        f"/web/stock/serials?serial={docs['serial']}": docs["serial"],
        f"/web/aftersales/{docs['aftersales']}": docs["aftersales"],
        f"/web/channels/{docs['shop']}": docs["shop"],
        f"/web/channels/{SHOP}/runs": "channel-runs",
        f"/web/finance/wechat-jobs/{docs['wechat_job']}": docs["wechat_job"],
        f"/web/finance/fundflow-bills/{docs['fundflow']}": docs["fundflow"],
        f"/web/finance/courier-bills/{bill_id}": BILL_FILE,
        f"/web/finance/settlements/{ids[0]}": HELD,
        f"/web/skus/imports/{ids[1]}": ids[1],
        f"/web/skus/imports/{ids[1]}/status": "import-job",
        f"/web/finance/orders?order_no={HELD}": HELD,
        f"/web/stock/movements?sku={code}": "JY13",
    }
    a, b = browser_client(), browser_client("other", "boss")
    for path, secret in details.items():
        mine = a.get(path)
        assert mine.status_code == 200 and secret in mine.text, path
        theirs = b.get(path)
        if path.startswith("/web/stock/movements"):  # a list: the second seller's own, none
            assert theirs.status_code in (200, 404) and "JY13" not in theirs.text, path
            continue
        assert theirs.status_code == 404, (path, theirs.status_code)
        # A page may say what was asked for (the second seller's own input), no more.
        assert secret in path or secret not in theirs.text, path
    assert tid in a.get("/web/tasks").text and tid not in b.get("/web/tasks").text


#: Every dashboard route with where its tenancy is probed (or why it holds no seller's data).
ROUTES = {
    ("GET", "/"): "a redirect to /web/",
    ("GET", "/web"): "a redirect to /web/",
    ("*", "/web/static"): "the vendored and hand-written files, the same for everyone",
    ("GET", "/web/login"): "the login form",
    ("POST", "/web/login"): "logs in to the account the form names (test_session.py)",
    ("POST", "/web/logout"): "ends the caller's own session",
    ("GET", "/web/lang/{locale}"): "a language cookie",
    ("GET", "/web/orders/export.{fmt}"): "here: B's export holds none of A's orders",
    ("GET", "/web/orders/{order_no}"): "here: 404 for A's order",
    ("GET", "/web/orders/{order_no}/label.png"): "here: 404 for A's order's label",
    ("POST", "/web/orders/{order_no}/{name}"): "here: 404 for A's order, nothing changed",
    ("POST", "/web/tasks/{task_id}"): "here: 404 for A's task, still open",
    ("GET", "/web/rules/{key}"): "here: 404 for A's rule",
    ("POST", "/web/rules/{key}"): "here: B's own rule of that key; A's versions unchanged",
    ("POST", "/web/rules/{key}/dry-run"): "test_rule_pages.py: 404 for A's rule, B's orders only",
    ("POST", "/web/couriers"): "test_rule_pages.py: creates in the caller's account",
    ("POST", "/web/couriers/{code}"): "test_rule_pages.py: B's own courier; A's unchanged",
    ("GET", "/web/stock/warehouses/{code}"): "test_stock.py: 404 for A's warehouse",
    ("GET", "/web/stock/movements"): "test_stock.py: none of A's movements",
    ("POST", "/web/stock/columns"): "the caller's own preference; 404 for A's warehouse",
    ("GET", "/web/stock/transfers"): "test_transfer_pages.py: none of A's transfers",
    ("GET", "/web/stock/transfers/{number}"): "test_transfer_pages.py: 404 for A's transfer",
    ("POST", "/web/stock/transfers/{number}/{step}"): "test_transfer_pages.py: 404, unchanged",
    ("POST", "/web/stock/transfers/{number}/pick-node"): "test_transfer_pages.py: 404, unchanged",
    (
        "POST",
        "/web/stock/transfers/{number}/receipts/{receipt_id}/cancel",
    ): "test_transfer_pages.py: 404, unchanged",
    ("GET", "/web/fleet/{node_id}"): "here: 404 for A's node (and test_fleet_pages.py)",
    ("POST", "/web/pick-leases/{order_no}"): "test_fleet_pages.py: 404 for A's order, unmoved",
    ("GET", "/web/stock/export.{fmt}"): "test_catalogue.py: B's export holds none of A's",
    ("GET", "/web/stock/warehouses/{code}/export.{fmt}"): "test_catalogue.py: 404 for A's",
    ("GET", "/web/skus/export.{fmt}"): "test_catalogue.py: B's export holds none of A's SKUs",
    ("GET", "/web/skus/imports"): "the upload form, no seller's data",
    ("POST", "/web/skus/imports"): "a job of the caller's account (test_catalogue.py)",
    ("GET", "/web/skus/imports/{job_id}"): "test_catalogue.py: 404 for A's job",
    ("GET", "/web/skus/imports/{job_id}/status"): "test_catalogue.py: 404 for A's job",
    ("GET", "/web/skus/{code}"): "test_catalogue.py: 404 for A's SKU",
    ("POST", "/web/skus/{code}"): "test_catalogue.py: 404 for A's SKU, unchanged",
    ("POST", "/web/skus"): "test_catalogue.py: creates in the caller's account",
    ("POST", "/web/skus/{code}/delete"): "test_catalogue.py: 404 for A's SKU, kept",
    ("POST", "/web/pick-leases"): "test_fleet_pages.py: 404 for A's orders, none moved",
    ("POST", "/web/users"): "creates in the caller's account (test_admin_pages.py)",
    ("POST", "/web/users/{user_id}"): "test_admin_pages.py: 404 for A's user",
    ("GET", "/web/channels/{code}"): "here: 404 for A's shop (and test_channel_pages.py)",
    ("GET", "/web/channels/{code}/runs"): "here: 404 for A's shop's runs",
    ("GET", "/web/finance/settlements/{bill_id}"): "here: 404 for A's bill",
    (
        "POST",
        "/web/finance/settlements",
    ): "imports into the caller's account (test_settlement_page.py)",
    ("POST", "/web/finance/settlements/match-again"): "here: B's rows only; A's still unmatched",
    ("GET", "/web/finance/fundflow-bills"): "test_wechat_pages.py: none of A's bills listed",
    ("GET", "/web/finance/fundflow-bills/{bill_id}"): "test_wechat_pages.py: 404 for A's bill",
    (
        "POST",
        "/web/finance/fundflow-bills",
    ): "imports into the caller's account (test_wechat_pages.py, as the API's)",
    ("GET", "/web/finance/wechat-jobs"): "test_wechat_pages.py: none of A's jobs listed",
    ("GET", "/web/finance/wechat-jobs/{mchid}"): "test_wechat_pages.py: 404 for A's job",
    (
        "POST",
        "/web/finance/wechat-jobs",
    ): "adds to the caller's account; A's 商户号 is B's own job (test_wechat_pages.py)",
    ("POST", "/web/finance/wechat-jobs/{mchid}/park"): "test_wechat_pages.py: 404, unchanged",
    ("POST", "/web/finance/wechat-jobs/{mchid}/resume"): "test_wechat_pages.py: 404, unchanged",
    ("POST", "/web/finance/wechat-jobs/{mchid}/refetch"): "test_wechat_pages.py: 404, unchanged",
    ("POST", "/web/channels/{code}/download"): "test_channel_pages.py: 404, nothing queued",
    ("POST", "/web/channels"): "test_channel_shop_forms.py: a shop in the caller's account only",
    ("POST", "/web/channels/{code}/schedule"): "test_channel_shop_forms.py: 404, unchanged",
    ("POST", "/web/channels/{code}/couriers"): "test_channel_shop_forms.py: 404, unchanged",
    ("POST", "/web/channels/{code}/stock-policy"): "test_channel_later_pages.py: 404, unchanged",
    ("POST", "/web/channels/{code}/skus"): "test_channel_later_pages.py: 404, nothing mapped",
    ("POST", "/web/channels/{code}/locations"): (
        "test_channel_locations_page.py: 404, nothing mapped"
    ),
    ("POST", "/web/channels/{code}/locations/{warehouse}/remove"): (
        "test_channel_locations_page.py: 404, the mapping kept"
    ),
    (
        "POST",
        "/web/channels/{code}/authorisation",
    ): "test_channel_reauth_page.py: 404, key unchanged",
    ("GET", "/web/waybills"): "test_waybill_page.py: another seller sees none of A's couriers",
    (
        "POST",
        "/web/waybills/pools",
    ): "test_waybill_page.py: 422 for A's node, A's target unchanged",
    (
        "POST",
        "/web/waybills/nodes/{node}/retire",
    ): "test_waybill_page.py: 404 for A's node, A's targets unchanged",
    (
        "POST",
        "/web/waybills/nodes/{node}/force",
    ): "test_waybill_page.py: 404 for A's node, A's numbers still being given back",
    (
        "POST",
        "/web/channels/shipments/{shipment_id}/retry",
    ): "test_channel_pages.py: 404, still failed",
    ("GET", "/web/finance/courier-bills/{bill_id}"): "here: 404 for A's bill",
    ("POST", "/web/finance/courier-bills/{bill_id}/accept"): "here: 404 for A's bill, still open",
    ("POST", "/web/finance/courier-bills/{bill_id}/lines/{line_id}/resolve"): "here: 404",
    ("POST", "/web/finance/courier-bills"): "imports into the caller's account (as the API's)",
    (
        "GET",
        "/web/finance/statements/export.{fmt}",
    ): "test_finance_payables_pages.py: 404 / none of A's",
    ("GET", "/web/finance/payments"): "test_finance_payables_pages.py: none of A's documents",
    (
        "POST",
        "/web/finance/payments",
    ): "test_finance_payables_pages.py: 422 for A's supplier, nothing stored",
    ("GET", "/web/finance/periods"): "test_finance_payables_pages.py: B's own months only",
    ("GET", "/web/finance/orders"): "test_finance_payables_pages.py: 404 for A's order",
    (
        "POST",
        "/web/finance/orders",
    ): "test_finance_payables_pages.py: 404 for A's order, nothing posted",
    (
        "POST",
        "/web/finance/periods",
    ): "test_finance_payables_pages.py: closes B's month; A's unchanged",
    ("GET", "/web/stock/suppliers"): "test_purchase_pages.py: none of A's suppliers",
    ("GET", "/web/stock/purchase-orders"): "test_purchase_pages.py: none of A's POs",
    ("GET", "/web/stock/purchase-orders/new"): "test_purchase_pages.py: none of A's suppliers",
    ("GET", "/web/stock/purchase-orders/{number}"): "test_purchase_pages.py: 404 for A's PO",
    ("POST", "/web/stock/purchase-orders"): "test_purchase_pages.py: refused, A's PO unchanged",
    (
        "POST",
        "/web/stock/purchase-orders/{number}/delivery-refs",
    ): "test_purchase_pages.py: 404 for A's PO, its references unchanged",
    ("GET", "/web/stock/serials"): "test_purchase_pages.py: 404 for A's serial",
    (
        "POST",
        "/web/stock/serials/resolve",
    ): "test_purchase_pages.py: 404 for A's serial, A's trace unchanged",
    (
        "POST",
        "/web/stock/serials/label",
    ): "test_purchase_pages.py: 404 for A's new serial, its trace and label unchanged",
    ("GET", "/web/stock/transfers/new"): "test_purchase_pages.py: none of A's warehouses",
    ("POST", "/web/stock/transfers"): "test_purchase_pages.py: refused for A's warehouses",
    ("GET", "/web/aftersales/new"): "test_purchase_pages.py: 404 for A's order, no lines",
    ("POST", "/web/aftersales"): "test_purchase_pages.py: 404 for A's order, nothing made",
    ("POST", "/web/finance/invoices/issue"): "here: 404 for A's order, nothing stored",
    ("POST", "/web/finance/invoices/{request_no}/red"): "here: 404 for A's invoice, no red",
    ("GET", "/web/aftersales"): "test_aftersales_pages.py: B's list holds none of A's requests",
    ("GET", "/web/aftersales/{number}"): "test_aftersales_pages.py: 404 for A's request",
    ("POST", "/web/aftersales/{number}/{name}"): "test_aftersales_pages.py: 404, A's unchanged",
    (
        "POST",
        "/web/aftersales/damaged-routes",
    ): "test_aftersales_pages.py: 404 for A's warehouse, 422 for A's damaged one; A's unchanged",
    (
        "POST",
        "/web/finance/orders/prepayment-refunds",
    ): "test_finance_payables_pages.py: 404 for A's order, nothing refunded",
    **{("GET", p.split("?")[0]): "here: every page from both accounts" for p in PAGES},
}


def test_every_dashboard_route_has_a_tenancy_probe(demo_app: TestClient) -> None:
    from tests.cloud.api.test_tenancy import _routes

    routes = {
        k
        for k in _routes(demo_app.app)  # type: ignore[arg-type]
        if k[1] == "/" or k[1] == "/web" or k[1].startswith("/web/")
    }
    assert routes - set(ROUTES) == set(), "dashboard routes without a probe in ROUTES"
    assert set(ROUTES) - routes == set(), "ROUTES lists routes that do not exist"


def test_rules_of_another_seller(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    from cloud.db.models import Rule

    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get("/web/rules/double11-sf").status_code == 404
    body = {
        "kind": "courier",
        "name": "mine",
        "priority": 1,
        "conditions": [],
        "action": {"carrier": "SF"},
        "active": True,
    }
    import json

    r = b.post("/web/rules/double11-sf", data={"csrf": b.csrf, "rule": json.dumps(body)})  # type: ignore[attr-defined]
    assert r.status_code == 200 and "v1" in r.text  # B's own first version
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(
            select(Rule.account_id, Rule.version).where(Rule.rule_key == "double11-sf")
        ).all()
    assert sorted(v for _, v in rows) == [1, 1] and len({a for a, _ in rows}) == 2
