"""Every page of the dashboard, list and detail, opened in Chromium in Chinese and in English
with a seller's documents seeded (issue 15, "detail pages not walked"): no server error, axe
finds no serious or critical violation, and no English word is left in a Chinese page's text
once the seller's own codes (SKU codes, order and document numbers, node ids, carriers) are
taken out. A test fails when the dashboard gains a page this walk does not open.

The documents are the benchmark's (cloud/bench/dashboard_seed.py ``seed_pages``: a transfer,
a PO, an after-sales request, a serial, a shop, a WeChat Pay job and its bill) on top of the
demo seller, so the walk and ``guanjia bench dashboard`` open the same pages
(cloud/bench/dashboard.py ``pages``). SQLite only, one hub for the module (the pages' SQL runs
on both databases in the other tests here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.app import create_app
from cloud.bench.dashboard import pages
from cloud.bench.dashboard_seed import seed_pages
from cloud.catalogue import jobs
from cloud.finance import courier_bills, settlements
from cloud.orders import workflow
from cloud.seed import seed_demo
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD
from tests.cloud.finance.test_settlements import csv as bill_csv
from tests.cloud.finance.test_settlements import row as bill_row
from tests.cloud.web.conftest import HELD, NODE, count_variance
from tests.cloud.web.test_browser import VIEW, _check
from tests.cloud.web.test_channel_pages import XSS, seed_shop
from tests.cloud.web.test_task_details import _english_left
from tests.support.served import served

pytestmark = pytest.mark.browser

#: A SKU of the demo seller with stock and movements (cloud/seed.py).
SKU_CODE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
#: Words a Chinese page shows as they are: names of formats, standards and marketplaces, and
#: units, which sellers read in Latin letters on any page.
AS_THEY_ARE = {
    *("SKU", "CSV", "Excel", "xlsx", "GTIN", "EAN", "JSON", "API", "APIv", "ID", "MB", "KB"),
    *("RFID", "ASN", "PDA", "URL", "gzip", "zip", "pem", "YYYY", "MM", "DD", "GB", "kg"),
    *("XLSX", "UTF", "SessionKey", "AppKey", "AppSecret", "SF", "ZTO", "HTKY"),
    *("Shopify", "taobao", "Taobao", "WeChat", "Pay", "PNG", "HTTP", "HTTPS", "QR", "PDF"),
}
#: Routes that render no page of their own: a redirect, the language cookie, files.
#: Pages htmx loads into another (the shop's runs into the shop's page), opened on their own.
FRAGMENTS = {"channel_runs"}
Walked = tuple[str, dict[str, str], str]  # the hub's address, its documents, its database
NOT_PAGES = {
    "/",
    "/web",
    "/web/lang/{locale}",
    "/web/login",
    "/web/skus/imports/{job_id}/status",  # the job page's polled fragment (opened below)
}


def _seed(app: Any, url: str) -> dict[str, str]:
    """The demo seller, the benchmark's documents and the few the benchmark has none of (a
    courier bill, a settlement bill, an import job, a shop with a run)."""
    now = datetime.now(UTC)
    with app.state.sessions() as s, s.begin():
        seeded = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
    docs = seed_pages(url)
    client = TestClient(app)
    client.app.state = app.state  # type: ignore[attr-defined]
    seed_shop(client, "tb1")
    count_variance(client)  # a node's task (its detail names the node)
    account = seeded["account_id"]
    with app.state.sessions() as s, s.begin():
        data = b"tracking_number,date,destination,weight_kg,fee\nSF00000001,2026-12-05,x,1,9.00\n"
        bill = courier_bills.import_bill(s, account, "SF", "sf.csv", data, "csv", "t", now)
        rows = [bill_row("81001", HELD, "99999.00", "", "99999.00", "在线支付")]
        settled = settlements.import_bill(s, account, bill_csv(rows), "a.csv", "t", now)
        # A person's actions in the held order's history (the actor "user:admin").
        workflow.set_hold(s, account, HELD, False, "买家已回电", "user:admin", now)
        workflow.set_hold(s, account, HELD, True, "等买家回电", "user:admin", now)
        job = jobs.submit(
            s, account, "user:admin", "csv", b"sku_code,name,barcodes\nX-1,x,\n", now, 5
        )
        s.flush()
        docs |= {
            "courier_bill": str(bill.id),
            "settlement": str(settled.public_id),
            "job": str(job.public_id),
            "shipped": docs["aftersales"].removeprefix("AS-").rsplit("-", 1)[0],
        }
    return docs


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walked]:
    db = tmp_path_factory.mktemp("walk") / "hub.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        # The shops' runs are the seeded ones: a run of its own (the marketplace is not
        # there) would change what a page shows from one run of the walk to the next.
        channels_scheduler=False,
    )
    app = create_app(settings, ingest=False)
    with served(app) as base:
        yield base, _seed(app, settings.database_url), settings.database_url


def walk(docs: dict[str, str]) -> dict[str, str]:
    """The benchmark's pages, with this hub's node, and the pages it does not measure."""
    out = pages(HELD, docs) | {
        "node": f"/web/fleet/{NODE}",
        "audit_order": f"/web/audit?order={HELD}",
        "movements": f"/web/stock/movements?sku={SKU_CODE}",
        "sku_imports": "/web/skus/imports",
        "sku_import": f"/web/skus/imports/{docs['job']}",
        "transfer_new": "/web/stock/transfers/new",
        "purchase_order_new": "/web/stock/purchase-orders/new",
        "aftersales_new": f"/web/aftersales/new?order_no={docs['shipped']}",
        "channel_runs": "/web/channels/tb1/runs",
        "channel_tb1": "/web/channels/tb1",
        "courier_bill": f"/web/finance/courier-bills/{docs['courier_bill']}",
        "settlement": f"/web/finance/settlements/{docs['settlement']}",
        "fin_order": f"/web/finance/orders?order_no={HELD}",
        "statement_buyer": f"/web/finance/statements?kind=buyer&party=buyer-{HELD[-3:]}",
        "ledger_2203": "/web/finance?account=2203",
    }
    return out


def _template(path: str) -> str:
    return path.split("?")[0]


def test_the_walk_opens_every_page_of_the_dashboard(walked: Walked) -> None:
    from tests.cloud.api.test_tenancy import _routes

    docs = walked[1]
    app = create_app(Settings(database_url="sqlite://", mqtt_host=""), ingest=False)
    templates = {
        p
        for (m, p), r in _routes(app).items()
        if m == "GET"
        and (p in ("/", "/web") or p.startswith("/web/"))
        and p not in NOT_PAGES
        and not re.search(r"export\.\{fmt\}|\.png$", p)
    }
    opened = [_template(p) for p in walk(docs).values()]
    missing = {
        t
        for t in templates
        if not any(re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), p) for p in opened)
    }
    assert missing == set(), "pages the walk does not open"


def _known(db_url: str) -> set[str]:
    """The seller's own codes and names, shown as typed on any page."""
    from sqlalchemy import create_engine

    from cloud.db import models

    engine = create_engine(db_url)
    columns = (
        models.Sku.sku_code,
        models.Sku.model,
        models.SalesOrderLine.line_id,
        models.StockMovement.document,
        models.SalesOrder.order_no,
        models.SalesOrder.buyer_nick,
        models.Node.node_id,
        models.Warehouse.code,
        models.Rule.rule_key,
        models.Rule.name,
        models.User.username,
        models.ChannelShop.code,
        # A marketplace's own words about a shop (its refusal, kept as it said it).
        models.ChannelShop.status_reason,
        models.Supplier.code,
        models.Supplier.name,
        models.Carrier.code,
    )
    known: set[str] = set()
    with engine.connect() as c:
        for col in columns:
            # Only values with a letter: a line numbered "1" is no code to take out of words.
            values = (str(v) for v in c.execute(select(col).distinct()).scalars() if v)
            known |= {v for v in values if re.search(r"[A-Za-z]", v)}
    engine.dispose()
    # The seeders' own actor (cloud/bench/dashboard_seed.py), a shipment error the channel
    # fixture stores (tests/cloud/web/test_channel_pages.py) and a column of the imported
    # file (a bad row's column is named as the file names it), each as stored.
    errors = {f"isp.remote-service-error {XSS}", "unknown company_code ZTOX"}
    return known | errors | {"bench", "barcodes"}


def _text(page: Any) -> str:
    """The main part's text, one text node after another, without code samples, form
    fields and the charts' data (a fragment: its body)."""
    return str(
        page.evaluate(
            """() => {
            const root = document.querySelector('main') || document.body;
            const skip = 'CODE, PRE, KBD, SAMP, TEXTAREA, SCRIPT, STYLE, SELECT, OPTION';
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            const out = [];
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              if (!n.parentElement.closest(skip)) out.push(n.nodeValue);
            }
            return out.join(' '); }"""
        )
    )


def _without(text: str, known: set[str]) -> str:
    for code in sorted(known, key=len, reverse=True):
        text = text.replace(code, " ")
    return text


#: An actor's code as the API says it ("user:admin", "node:wh1-pack-1").
ACTOR_CODE = re.compile(r"\b(?:user|node):[\w-]+")
#: Names in a hint or a value, not words: an address, a file's name, a command or an API call
#: in the hub's own words, a placeholder, a hex digest (a certificate's serial), a UUID.
NAMES = re.compile(
    r"https?://\S+|[\w.-]+\.(?:csv|xlsx|pem|key|txt|zip)\b|[A-Z_]+_…|\b[0-9A-Fa-f]{16,}\b"
    r"|guanjia(?: [a-z-]+)+|(?:GET|PUT|POST) /api/[\w/{}.-]+|[0-9a-f]{8}-[0-9a-f-]{27}"
    r"|(?<![A-Za-z0-9])[A-Z]{2,3}-[A-Z]*\d[\w-]*"  # a document's number: AS-JY1300003-1
    r"|[a-z]+(?:\.[a-z_]+){2,}|\b[A-Z]\w*Error\b"  # a marketplace call's name, an error type
)
#: A code with a digit (a document number "AS-JY1300003-1", an account "1122.bank_transfer").
CODES = re.compile(
    r"(?<![A-Za-z0-9])(?:[0-9A-Za-z]+-)*[0-9A-Za-z]*\d[0-9A-Za-z]*(?:[-.][0-9A-Za-z_]+)*"
)


def english_left(text: str, known: set[str]) -> set[str]:
    """English words left in a Chinese page's ``text`` once the names, the seller's own
    codes (``known``) and the codes with digits are taken out."""
    text = _without(NAMES.sub(" ", text), known)
    return set(_english_left(CODES.sub(" ", text), set())) - AS_THEY_ARE


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_page_in_both_languages(browser: Any, walked: Walked, locale: str) -> None:
    base, docs, db_url = walked
    known = _known(db_url)
    ctx = browser.new_context(viewport=VIEW, locale=locale, bypass_csp=True)
    page = ctx.new_page()
    page.goto(f"{base}/web/login")
    page.fill("#account", "demo")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/web/")
    problems: list[str] = []
    for name, path in walk(docs).items():
        r = page.goto(base + path)
        assert r is not None
        if r.status >= 400:
            problems.append(f"{name} {path}: HTTP {r.status}")
            continue
        fragment = name in FRAGMENTS
        if not fragment and page.locator("html").get_attribute("lang") != locale:
            problems.append(f"{name} {path}: not in {locale}")
        text = _text(page)
        # An actor as a page names them: "admin", "节点 x" / "node x", never the API's code.
        if coded := ACTOR_CODE.findall(text):
            problems.append(f"{name} {path}: actors as codes {coded}")
        if locale == "zh-CN" and (left := english_left(text, known)):
            problems.append(f"{name} {path}: English left {sorted(left)}")
        if not fragment:  # a fragment has no title or language of its own for axe
            try:
                _check(page, f"walk-{locale}-{name}")
            except AssertionError as e:
                problems.append(f"{name} {path}: axe {e}")
    ctx.close()
    assert problems == [], "\n".join(problems)
