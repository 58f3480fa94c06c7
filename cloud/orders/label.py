"""An order's shipping label as the pack station prints it, as a PNG for the order page.

The ZPL is built by the function the pack station uses (protocol/devices/zpl.py
``build_label``, with the station's fields: edge/stations/pack.py ``_print``) and drawn by
the printer simulator's renderer (protocol/devices/zpl_image.py): what the seller sees is
what the printer gets. An order without a waybill has no label yet (:func:`label_png` says
why instead).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import ImageFont

from cloud.errors import N_
from protocol.devices import zpl_image
from protocol.devices.zpl import DEFAULT_STOCK, WAYBILL_RE, ShippingLabel, build_label
from protocol.devices.zpl_image import AnyFont


@lru_cache(maxsize=1)
def _font_file() -> str | None:
    files: list[str] = []
    for d in zpl_image.FONT_DIRS:
        try:
            files += [
                str(p) for p in Path(d).rglob("*") if p.suffix.lower() in zpl_image.FONT_SUFFIXES
            ]
        except OSError:
            continue
    return zpl_image.rank_fonts(files)[0]


@lru_cache(maxsize=16)
def _font(size: int) -> AnyFont:
    path = _font_file()
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass  # an unreadable font file: Pillow's own font, the label still draws
    return ImageFont.load_default(size)


def why_no_label(order: dict[str, Any]) -> str | None:
    """Why the order has no label to show yet (a message id), or None when it has one."""
    if not order.get("tracking_number"):
        return N_("no waybill yet: the label is drawn once the order is released")
    if not WAYBILL_RE.fullmatch(order["tracking_number"]):
        return N_("the waybill number is not one a label can carry")
    return None


def shipping_label(order: dict[str, Any]) -> ShippingLabel:
    """The label's fields from an order (``cloud/orders/views.py`` detail), as the station
    fills them from the release; the weight is the hub's last (0 before weighing)."""
    r = order["recipient"]
    return ShippingLabel(
        waybill=order["tracking_number"],
        carrier=order["carrier"] or "",
        order_id=order["order_no"],
        weight_g=order["weighed_g"] or 0,
        recipient_name=r.get("name", ""),
        recipient_phone=r.get("phone", ""),
        province=r.get("province", ""),
        city=r.get("city", ""),
        district=r.get("district") or "",
        address=r.get("address", ""),
        # The courier's route (e-waybills), when the page looked it up: as the node prints it.
        route=order.get("waybill_route") or "",
    )


def label_png(order: dict[str, Any]) -> bytes:
    """The label as a PNG, one pixel per printer dot (100 x 150 mm at 8 dots/mm: 800 x 1200)."""
    (layout,) = zpl_image.layouts(build_label(shipping_label(order), DEFAULT_STOCK))
    buf = io.BytesIO()
    zpl_image.render_layout(layout, _font).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
