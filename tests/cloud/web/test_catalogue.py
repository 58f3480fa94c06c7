"""The catalogue pages: list and search, a SKU's page with its barcodes, the edit form (the
API's 409 and 422 in the page's language, nothing changed), XSS as text, scopes; the import
page (a job, its progress, the row-by-row report, the size refusal); the stock export."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from cloud.db.models import ImportJob, Sku
from cloud.web import barcodes
from tests.cloud.web.conftest import add_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CASE = "MKING IPAD AIR2 金甲系列皮套-金色"  # demo SKU, barcode 6901234567892 (a valid EAN-13)
SHELL = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"  # barcodes 6901234567908, …915
GIFT = "GIFT 贴膜"  # stocked, in no bundle


def _url(code: str) -> str:
    return "/web/skus/" + quote(code)


def _version(html: str) -> str:
    m = re.search(r'name="version" value="([^"]+)"', html)
    assert m, "no version field on the page"
    return m.group(1)


def _form(c: TestClient, code: str, **changes: str) -> dict[str, str]:
    """The edit form as the page fills it, with ``changes``."""
    page = c.get(_url(code)).text
    form = {"csrf": c.csrf}  # type: ignore[attr-defined]
    for name, value in re.findall(r'<input id="f-[^"]+" name="([^"]+)" value="([^"]*)"', page):
        form[name] = html.unescape(value)
    for name in re.findall(r'type="checkbox" name="([^"]+)" value="1" checked', page):
        form[name] = "1"
    for name, value in re.findall(r'<textarea id="f-[^"]+" name="([^"]+)" rows="3">([^<]*)<', page):
        form[name] = html.unescape(value)
    kind = re.search(r'<option value="([a-z]+)" selected>', page)
    assert kind
    form["kind"] = kind.group(1)
    form["version"] = _version(page)
    form.update(changes)
    return form


def _sku(app: TestClient, code: str) -> Sku:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return s.execute(select(Sku).where(Sku.sku_code == code)).scalar_one()


def test_list_search_and_paging(browser_client: Callable[..., TestClient]) -> None:
    c = browser_client()
    html = c.get("/web/skus", headers=EN).text
    assert CASE in html and SHELL in html and "6901234567892" in html
    # F10's search: space-separated keywords in any order, every one must match
    html = c.get("/web/skus?q=" + quote("金色 mking"), headers=EN).text
    assert CASE in html and SHELL not in html
    assert "Nothing matches." in c.get("/web/skus?q=nosuchthing", headers=EN).text
    assert c.get("/web/skus?page=-1").status_code == 422
    assert 'href="/web/skus/' + quote(CASE).replace("/", "%2F") in html or CASE in html


def test_sku_page_draws_its_barcodes(browser_client: Callable[..., TestClient]) -> None:
    c = browser_client()
    html = c.get(_url(SHELL), headers=EN).text
    imgs = re.findall(r'<img src="(data:image/svg\+xml;base64,[^"]+)" alt="([^"]+)"', html)
    assert [alt for _, alt in imgs] == ["EAN-13 6901234567908", "EAN-13 6901234567915"]
    assert barcodes.is_ean13("6901234567892") and not barcodes.is_ean13("6901234567893")
    drawn = barcodes.draw("ABC-123")
    assert drawn is not None and drawn.symbology == "Code 128"
    assert barcodes.draw("条码") is None  # Code 128 carries ASCII only: shown as text
    assert c.get(_url("no such sku")).status_code == 404


def test_edit_saves_through_the_apis_model(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    form = _form(c, CASE, name="新名字", price_cents="12.50", min_price_cents="10", weight_g="300")
    r = c.post(_url(CASE), data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    sku = _sku(demo_app, CASE)
    assert (sku.name, sku.price_cents, sku.weight_g, sku.changed_by) == (
        "新名字",
        1250,
        300,
        "user:admin",
    )
    assert "Saved." in c.get(r.headers["location"], headers=EN).text


def test_422_and_409_in_the_pages_language_and_nothing_changed(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    before = _sku(demo_app, CASE)
    # 422: the API's model refuses a negative weight, a price is not an amount
    bad = _form(c, CASE, name="changed", weight_g="-1", price_cents="1.234")
    r = c.post(_url(CASE), data=bad, headers=ZH)
    assert r.status_code == 422
    assert "重量 (克): 必须至少为 0" in r.text and "价格 (元): " in r.text, r.text
    r = c.post(_url(CASE), data=bad, headers=EN)
    assert "Weight (g): must be at least 0" in r.text
    # 409: another SKU's barcode
    taken = _form(c, CASE, name="changed", barcodes="6901234567908")
    r = c.post(_url(CASE), data=taken, headers=ZH)
    assert r.status_code == 409
    assert f"条码 6901234567908 已属于 SKU {SHELL}" in r.text, r.text
    # 409: a stale form (someone saved after it was shown)
    stale = _form(c, CASE, name="first")
    assert c.post(_url(CASE), data=stale, follow_redirects=False).status_code == 303
    stale["name"] = "second"
    r = c.post(_url(CASE), data=stale, headers=EN)
    assert r.status_code == 409 and "after you opened it" in r.text
    after = _sku(demo_app, CASE)
    assert after.name == "first" and after.weight_g == before.weight_g
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        from cloud.db.models import Barcode

        owner = s.scalar(select(Barcode.sku_code).where(Barcode.barcode == "6901234567908"))
    assert owner == SHELL


def test_xss_in_a_sku_name_is_text(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    r = c.post(_url(CASE), data=_form(c, CASE, name=XSS), follow_redirects=False)
    assert r.status_code == 303
    for path in ("/web/skus", _url(CASE), "/web/stock"):
        html = c.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path


def test_scopes(browser_client: Callable[..., TestClient], demo_app: TestClient) -> None:
    add_user(demo_app, "demo", "pick", "picker")
    p = browser_client("demo", "pick")
    assert p.get("/web/skus").status_code == 200  # catalogue:read
    html = p.get(_url(CASE)).text
    assert "f-name" not in html and "/web/skus/imports" not in html  # nothing offered
    form = {"csrf": p.csrf, "version": "x", "name": "mine", "barcodes": "1"}  # type: ignore[attr-defined]
    r = p.post(_url(CASE), data=form)
    assert r.status_code == 403 and "catalogue:write" in r.text
    assert p.get("/web/skus/imports").status_code == 403
    assert _sku(demo_app, CASE).name != "mine"
    a = browser_client()
    r = a.post(_url(CASE), data=_form(a, CASE, csrf="forged"))
    assert r.status_code == 403


# --- import ------------------------------------------------------------------------------

HEADER = "sku_code,name,barcodes,kind\n"


def _wait_job(c: TestClient, url: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        frag = c.get(url + "/status", headers=EN).text
        if "hx-trigger" not in frag:
            return frag
        time.sleep(0.1)
    raise AssertionError("the import job did not end")


def _upload(c: TestClient, name: str, data: bytes, kind: str = "text/csv") -> str:
    r = c.post(
        "/web/skus/imports",
        data={"csrf": c.csrf},  # type: ignore[attr-defined]
        files={"file": (name, data, kind)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_import_happy_path_counts_created_and_updated(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    assert 'enctype="multipart/form-data"' in c.get("/web/skus/imports").text
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["sku_code", "name", "barcodes"])
    ws.append(["NEW-1", "新品一", "NEW0001"])
    ws.append(["NEW-2", "新品二", "NEW0002|NEW0003"])
    ws.append([CASE, "改名", "6901234567892"])
    buf = io.BytesIO()
    wb.save(buf)
    url = _upload(c, "skus.xlsx", buf.getvalue(), "application/octet-stream")
    page = c.get(url, headers=EN).text
    assert 'hx-get="' + url + '/status"' in page or "done" in page  # polls while it runs
    frag = _wait_job(c, url)
    assert "Imported 3 rows: 2 new SKUs, 1 updated." in frag, frag
    assert _sku(demo_app, "NEW-2").name == "新品二" and _sku(demo_app, CASE).name == "改名"


def test_import_reports_each_bad_row_and_imports_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        n = s.scalar(select(func.count()).select_from(Sku))
    body = HEADER + "OK-1,fine,OK0001,item\nBAD-1,,BAD0001,item\nBAD-2,x,BAD0002,gadget\n"
    url = _upload(c, "skus.csv", body.encode())
    frag = _wait_job(c, url)
    assert "2 bad rows; nothing was imported" in frag, frag
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", frag)
    assert rows == [("3", "name", "is required"), ("4", "kind", "is not one of the choices")]
    zh = c.get(url + "/status", headers=ZH).text
    assert "必须填写" in zh and "不是可选的值" in zh  # the report in the page's language
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.scalar(select(func.count()).select_from(Sku)) == n
    # the job is the account's: another seller gets 404
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get(url).status_code == 404 and b.get(url + "/status").status_code == 404


def test_a_refused_file_says_why_in_the_pages_language(
    browser_client: Callable[..., TestClient],
) -> None:
    """Why the whole file was refused (kept in English, as the API answers it) is said again
    in the page's language (cloud/web/pages/skus.py ``JOB_MESSAGES``)."""
    c = browser_client()
    url = _upload(c, "skus.csv", HEADER.encode() + b"OK-1,\xff\xfe,OK0001,item\n")
    frag = _wait_job(c, url)
    assert "the file is not UTF-8 text: " in frag, frag
    zh = c.get(url + "/status", headers=ZH).text
    assert "文件不是 UTF-8 文本：" in zh and "the file is not" not in zh, zh


def _multipart(size: int, boundary: str, csrf: str) -> Iterator[bytes]:
    """A multipart form with a ``size``-byte CSV file, made as it is sent (never on disk,
    never whole in memory)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    yield HEADER.encode()
    line = b"BIG-0000000,a big file,BIG0000000,item\n"
    chunk = line * (1024 * 1024 // len(line))
    sent = len(HEADER)
    while sent < size:
        part = chunk[: size - sent]
        sent += len(part)
        yield part
    yield f"\r\n--{boundary}--\r\n".encode()


def test_a_50_mb_file_is_refused_with_a_size_error_and_nothing_imported(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    size = 50 * 1024 * 1024
    boundary = "guanjia-test-boundary"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", **ZH}
    # streamed without a length (chunked): cut off once past the limit
    r = c.post(
        "/web/skus/imports",
        content=_multipart(size, boundary, c.csrf),
        headers=headers,  # type: ignore[attr-defined]
    )
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "文件大于 20 MB" in r.text and "未导入任何内容" in r.text, r.text
    # with its length declared: refused before a byte of it is read
    c2 = browser_client()
    r = c2.post(
        "/web/skus/imports",
        content=_multipart(size, boundary, c2.csrf),  # type: ignore[attr-defined]
        headers={**headers, **EN, "Content-Length": str(size + 300)},
    )
    assert r.status_code == 413 and "larger than 20 MB: nothing was imported" in r.text
    # another form of the dashboard: its (1 MiB) limit, a page as well
    r = c2.post("/web/stock/columns", content=b"x" * (1024 * 1024 + 1), headers=EN)
    assert r.status_code == 413 and "The form sent more than 1024 KB" in r.text
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.scalar(select(func.count()).select_from(ImportJob)) == 0
        assert (
            s.scalar(select(func.count()).select_from(Sku).where(Sku.sku_code.like("BIG-%"))) == 0
        )


# --- the stock export ---------------------------------------------------------------------


def test_stock_export_f9_and_f10_as_filtered(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    html = c.get("/web/stock?q=" + quote("金色 mking")).text
    assert "/web/stock/export.csv?q=" in html
    r = c.get("/web/stock/export.csv?q=" + quote("金色 mking"))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "sku_code" and rows[0][-1] == "warehouses"
    codes = [row[0] for row in rows[1:]]
    assert CASE in codes and SHELL not in codes
    assert all(code in html for code in codes)  # the rows the page lists
    # F10: the user's chosen columns, in their order
    r = c.post(
        "/web/stock/columns",
        data={"csrf": c.csrf, "warehouse": "WH1", "show:available": "1", "pos:available": "1",  # type: ignore[attr-defined]
              "show:bins": "1", "pos:bins": "2"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    r = c.get("/web/stock/warehouses/WH1/export.xlsx?q=" + quote("金色"))
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    got = list(ws.iter_rows(values_only=True))
    assert list(got[0]) == ["sku_code", "available", "bins"]
    f10 = {row[0]: row for row in got[1:]}
    assert CASE in f10 and SHELL not in f10 and "A-01" in str(f10[CASE][2])
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get("/web/stock/warehouses/WH1/export.csv").status_code == 404
    assert CASE not in b.get("/web/stock/export.csv").content.decode("utf-8-sig")


def test_another_sellers_sku_is_not_found_and_unchanged(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get(_url(CASE)).status_code == 404
    form = {"csrf": b.csrf, "version": "x", "name": "stolen", "barcodes": "X1"}  # type: ignore[attr-defined]
    assert b.post(_url(CASE), data=form).status_code == 404
    assert CASE not in b.get("/web/skus").text
    assert _sku(demo_app, CASE).name != "stolen"


def test_catalogue_export_from_the_page_as_filtered(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The list's export: the import's columns (a file that imports back), the rows the
    keywords find, as CSV and XLSX; another seller's export holds none of these SKUs."""
    from cloud.catalogue.import_export import COLUMNS

    c = browser_client()
    page = c.get("/web/skus?q=" + quote("金色 mking"), headers=EN).text
    assert "/web/skus/export.csv?q=" in page
    r = c.get("/web/skus/export.csv?q=" + quote("金色 mking"))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == COLUMNS
    codes = [row[0] for row in rows[1:]]
    assert CASE in codes and SHELL not in codes
    assert all(html.escape(code, quote=False) in page for code in codes)  # the rows listed
    assert "6901234567892" in rows[1 + codes.index(CASE)][COLUMNS.index("barcodes")]
    whole = c.get("/web/skus/export.xlsx")
    sheet = load_workbook(io.BytesIO(whole.content)).active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    assert list(got[0]) == COLUMNS and {CASE, SHELL} <= {row[0] for row in got[1:]}
    add_user(demo_app, "other", "boss", "admin")
    theirs = browser_client("other", "boss").get("/web/skus/export.csv").content.decode()
    assert CASE not in theirs and SHELL not in theirs


# --- create and delete ---------------------------------------------------------------------


def _new(c: TestClient, code: str, **fields: str) -> dict[str, str]:
    """The "new SKU" form as a person fills it (the list page offers it)."""
    page = c.get("/web/skus", headers=EN).text
    assert 'action="/web/skus" class="edit"' in page and 'name="sku_code"' in page
    return {"csrf": c.csrf, "sku_code": code, "name": "新品", "kind": "item", **fields}  # type: ignore[attr-defined]


def _codes(app: TestClient) -> set[str]:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return set(s.execute(select(Sku.sku_code)).scalars())


def test_create_a_sku_from_the_list_and_refusals_change_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    from cloud.db.models import Barcode, Downlink

    c = browser_client()
    form = _new(c, "NEW CASE 红色", barcodes="NEWBC001\nNEWBC002", price_cents="9.90")
    r = c.post("/web/skus", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == _url("NEW CASE 红色") + "?saved=1"
    sku = _sku(demo_app, "NEW CASE 红色")
    assert (sku.name, sku.price_cents, sku.changed_by) == ("新品", 990, "user:admin")
    page = c.get(r.headers["location"], headers=EN).text
    assert "NEWBC001" in page and "NEWBC002" in page and "Saved." in page
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        pushed = s.execute(select(Downlink.payload).where(Downlink.type == "catalogue.upsert"))
        assert any("NEW CASE 红色" in str(p) for p in pushed.scalars())  # the edges get it
    before = _codes(demo_app)
    # a code the catalogue has: refused, the SKU as it was
    r = c.post("/web/skus", data=_new(c, CASE, name="overwritten", barcodes="X1"), headers=ZH)
    assert r.status_code == 409, r.text
    assert f"商家编码: 商品资料中已有 SKU {CASE}" in r.text and "未创建" in r.text, r.text
    assert 'value="overwritten"' in r.text  # what was typed is kept
    assert _sku(demo_app, CASE).name != "overwritten"
    # another SKU's barcode: refused, in the page's language
    r = c.post("/web/skus", data=_new(c, "DUP-BC", barcodes="6901234567892"), headers=ZH)
    assert r.status_code == 409
    assert f"条码: 条码 6901234567892 已属于 SKU {CASE}" in r.text, r.text
    # the API's model: a barcode is needed, a code has no control characters
    r = c.post("/web/skus", data=_new(c, "NO-BC"), headers=ZH)
    assert r.status_code == 422 and "条码: " in r.text and "Barcodes" not in r.text
    r = c.post("/web/skus", data=_new(c, "BAD\tCODE", barcodes="B1"), headers=EN)
    assert r.status_code == 422 and "SKU code: has characters that are not allowed" in r.text
    r = c.post("/web/skus", data=_new(c, "", barcodes="B2"), headers=EN)
    assert r.status_code == 422 and "SKU code: may not be empty" in r.text
    assert _codes(demo_app) == before
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        owner = s.scalar(select(Barcode.sku_code).where(Barcode.barcode == "6901234567892"))
    assert owner == CASE
    # scopes and CSRF: a picker is offered no form and refused; a forged token is refused
    add_user(demo_app, "demo", "pick", "picker")
    p = browser_client("demo", "pick")
    assert 'action="/web/skus" class="edit"' not in p.get("/web/skus").text
    r = p.post("/web/skus", data={**_new(c, "PICKER-SKU", barcodes="P1"), "csrf": p.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 403
    assert c.post("/web/skus", data=_new(c, "F-SKU", barcodes="F1", csrf="x")).status_code == 403
    # another seller's code is theirs to use: created in their account, A's untouched
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    r = b.post("/web/skus", data=_new(b, CASE, name="B's", barcodes="6901234567892"))
    assert r.status_code == 200 and "B&#39;s" in r.text  # B's new SKU's page
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        names = set(s.execute(select(Sku.name).where(Sku.sku_code == CASE)).scalars())
    assert len(names) == 2 and "B's" in names and _sku_of_demo(demo_app).name != "B's"


def _sku_of_demo(app: TestClient) -> Sku:
    from cloud.db.models import Account

    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return s.execute(
            select(Sku).join(Account, Account.id == Sku.account_id)
            .where(Sku.sku_code == CASE, Account.name == "demo")
        ).scalar_one()  # fmt: skip


def _delete(c: TestClient, code: str, **changes: str) -> dict[str, str]:
    page = c.get(_url(code), headers=EN).text
    assert f'action="{_url(code)}/delete"' in page
    return {"csrf": c.csrf, "version": _version(page), "confirm": "1", **changes}  # type: ignore[attr-defined]


def test_delete_a_sku_without_history_only(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    from cloud.db.models import Barcode, SkuComponent

    c = browser_client()
    for code, extra in (("TYPO-1", {}), ("TYPO-SET", {"kind": "bundle", "components": "TYPO-1*2"})):
        r = c.post("/web/skus", data=_new(c, code, barcodes=code + "-BC", **extra))
        assert r.status_code == 200 and code in r.text, r.text
    # a component of a bundle: refused, naming the bundle
    r = c.post(_url("TYPO-1") + "/delete", data=_delete(c, "TYPO-1"), headers=ZH)
    assert r.status_code == 409
    assert "SKU TYPO-1 已有以它为组件的捆绑商品 TYPO-SET，因此保留在商品资料中" in r.text, r.text
    # the demo's SKUs: a part of the demo's bundle; stock and orders: refused, kept whole
    r = c.post(_url(CASE) + "/delete", data=_delete(c, CASE), headers=EN)
    assert r.status_code == 409 and "Not deleted; nothing was changed:" in r.text
    assert f"SKU {CASE} has bundle SET 皮套+保护壳, which it is a component of" in r.text
    r = c.post(_url(GIFT) + "/delete", data=_delete(c, GIFT), headers=ZH)
    assert r.status_code == 409
    assert f"SKU {GIFT} 已有库存台账流水，因此保留在商品资料中" in r.text, r.text
    # not confirmed (422), a stale page (409): nothing deleted
    r = c.post(_url("TYPO-SET") + "/delete", data=_delete(c, "TYPO-SET", confirm=""), headers=EN)
    assert r.status_code == 422 and "Tick the box to confirm the deletion." in r.text
    stale = _delete(c, "TYPO-SET")
    assert (
        c.post(
            _url("TYPO-SET"), data=_form(c, "TYPO-SET", name="改"), follow_redirects=False
        ).status_code
        == 303
    )
    r = c.post(_url("TYPO-SET") + "/delete", data=stale, headers=EN)
    assert r.status_code == 409 and "after you opened it" in r.text
    # another seller: 404, kept; a picker: 403, kept
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    r = b.post(_url("TYPO-SET") + "/delete", data={**stale, "csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404
    add_user(demo_app, "demo", "pick", "picker")
    p = browser_client("demo", "pick")
    assert "/delete" not in p.get(_url("TYPO-SET")).text
    r = p.post(_url("TYPO-SET") + "/delete", data={**_delete(c, "TYPO-SET"), "csrf": p.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 403
    assert {"TYPO-1", "TYPO-SET", CASE, GIFT} <= _codes(demo_app)
    # the bundle, then its component: deleted with their barcodes and components
    for code in ("TYPO-SET", "TYPO-1"):
        r = c.post(_url(code) + "/delete", data=_delete(c, code), follow_redirects=False)
        assert r.status_code == 303, r.text
        assert "Deleted: " + code in c.get(r.headers["location"], headers=EN).text
    assert not {"TYPO-1", "TYPO-SET"} & _codes(demo_app)
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert not s.scalar(
            select(func.count()).select_from(Barcode).where(Barcode.sku_code.like("TYPO%"))
        )
        assert not s.scalar(
            select(func.count())
            .select_from(SkuComponent)
            .where(SkuComponent.sku_code.like("TYPO%"))
        )
    assert c.get(_url("TYPO-1")).status_code == 404
    # its code and barcode are free again
    r = c.post("/web/skus", data=_new(c, "TYPO-1", barcodes="TYPO-1-BC"), follow_redirects=False)
    assert r.status_code == 303


def test_every_table_naming_a_sku_counts_as_history() -> None:
    """A table added later with a SKU column must be checked before a delete, or deleting
    a SKU it names would leave its rows pointing at nothing."""
    from cloud.catalogue import removal
    from cloud.db.models import Base

    checked = set()
    for where, _words in removal.HISTORY:
        sql = str(select(where(1, "x")))
        checked |= {t.name for t in Base.metadata.sorted_tables if f" {t.name}" in sql}
    naming = {
        t.name
        for t in Base.metadata.sorted_tables
        for col in t.columns
        if col.name in ("sku_code", "sku", "exchange_sku_code", "component_code")
    }
    # the catalogue's own rows go with the SKU (a bundle naming it is checked apart)
    assert naming - checked == {"sku", "barcode", "sku_component"}
