"""The order page's shipping label PNG (issue 15): the label the pack station prints, drawn by
the printer simulator's renderer (protocol/devices/zpl_image.py); no waybill, no label."""

from __future__ import annotations

import io
from collections.abc import Callable

import zxingcpp  # type: ignore[import-untyped,unused-ignore]
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from cloud.db.models import SalesOrder
from protocol.devices.zpl import DEFAULT_STOCK
from tests.cloud.conftest import login
from tests.cloud.web.conftest import AUDITED, HELD

EN = {"Accept-Language": "en"}


def test_label_png_is_the_printed_label_with_its_waybill(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    r = demo_app.post(
        f"/api/v1/orders/{AUDITED}/release",
        json={},
        headers=login(demo_app, "admin", account="demo"),
    )
    assert r.status_code == 200, r.text
    waybill = r.json()["tracking_number"]
    page = c.get(f"/web/orders/{AUDITED}", headers=EN).text
    assert f'src="/web/orders/{AUDITED}/label.png"' in page and waybill in page
    png = c.get(f"/web/orders/{AUDITED}/label.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(png.content))
    assert img.format == "PNG"
    # one pixel per printer dot: 100 x 150 mm at 8 dots/mm
    assert img.size == (DEFAULT_STOCK.width_dots, DEFAULT_STOCK.length_dots) == (800, 1200)
    found = zxingcpp.read_barcodes(img)
    assert [(f.text, f.format.name) for f in found] == [(waybill, "Code128")]


def test_no_waybill_no_label_and_it_says_so(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert (
            s.execute(
                select(SalesOrder.tracking_number).where(SalesOrder.order_no == HELD)
            ).scalar_one()
            is None
        )
    page = c.get(f"/web/orders/{HELD}", headers=EN).text
    assert "label.png" not in page and "No waybill yet" in page
    r = c.get(f"/web/orders/{HELD}/label.png", headers=EN)
    assert r.status_code == 404 and "no waybill yet" in r.text
    assert c.get("/web/orders/NOPE/label.png").status_code == 404
