"""Shopify as a refund source (cloud/channels/ports.py ``RefundSource``): Admin REST "Order"
and "Refund" (shopify.dev).

A Shopify refund is money given back, made once and never changed: it lives in its order's
``refunds[]`` (``refund_line_items[]`` with ``line_item_id``, ``quantity``, ``restock_type``,
``subtotal``; ``transactions[]``), and making it updates the order's ``updated_at``. So the
window is read as the orders' (``orders.json`` with ``status=any``, ``updated_at_min/max``,
``fields=id,updated_at,refunds``, pages by the ``Link`` cursor) and each refund of each order
listed becomes one :class:`ChannelRefund` per refunded line:

- ``refund_id`` is the refund's id, with ``:<line_item_id>`` when it refunds several lines;
- ``status`` is ``SUCCESS`` (the hub's refund vocabulary is Taobao's, changes.py): there is
  no request state on Shopify's side;
- ``phase``: ``onsale`` when the line was refunded before it was fulfilled (``restock_type``
  ``cancel``), ``aftersale`` otherwise;
- ``modified`` is the refund's ``created_at`` (it never changes afterwards).

An order changed while we page moves to a later ``updated_at``, which the next window reads:
a refund is never lost, only read again (the refunds table keeps one row per refund id).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cloud.channels.ids import digits
from cloud.channels.intake import Unusable, money
from cloud.channels.ports import ChannelRefund, Refused
from cloud.channels.shopify.client import AdminClient, next_page_info
from cloud.channels.shopify.orders import order_id, parse_shopify_time, shopify_time

FIELDS = "id,updated_at,refunds"


class ShopifyRefunds:
    max_span = timedelta(days=1)

    def __init__(self, client: AdminClient, *, limit: int = 250) -> None:
        self.client, self.limit = client, limit

    @property
    def calls(self) -> int:
        return self.client.calls

    def refunds(self, start: datetime, end: datetime) -> tuple[list[ChannelRefund], int]:
        params: dict[str, str] = {
            "status": "any",
            "updated_at_min": shopify_time(start),
            "updated_at_max": shopify_time(end),
            "limit": str(self.limit),
            "fields": FIELDS,
        }
        out: dict[str, ChannelRefund] = {}
        pages = 0
        while True:
            data, headers = self.client.get("orders.json", params)
            pages += 1
            rows = data.get("orders") if isinstance(data, dict) else None
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise Refused("orders.json: orders is not a list of objects")
            for order in rows:
                for r in refunds_of(order):
                    out[r.refund_id] = r
            cursor = next_page_info(headers.get("Link"))
            if cursor is None:
                break
            params = {"limit": str(self.limit), "fields": FIELDS, "page_info": cursor}
        return list(out.values()), pages


def refunds_of(order: dict[str, Any]) -> list[ChannelRefund]:
    """The order's refunds, one per refunded line."""
    ext = order_id(order)
    found = order.get("refunds") or []
    if not isinstance(found, list):
        raise Refused(f"order {ext}: refunds is not a list")
    out = []
    for refund in found:
        if not isinstance(refund, dict):
            raise Refused(f"order {ext}: a refund is not an object")
        rid = digits(refund.get("id"))
        if rid is None:
            raise Refused(
                f"order {ext}: a refund without a usable id: {str(refund.get('id'))[:40]!r}"
            )
        lines = refund.get("refund_line_items") or []
        if not isinstance(lines, list) or not all(isinstance(x, dict) for x in lines):
            raise Refused(f"refund {rid}: refund_line_items is not a list of objects")
        at = parse_shopify_time(refund.get("created_at"))
        for li in lines:
            line = digits(li.get("line_item_id"))
            if line is None:
                raise Refused(f"refund {rid}: a line without a usable line_item_id")
            try:
                fee = money(li.get("subtotal"), "subtotal")
            except Unusable as err:
                raise Refused(f"refund {rid}: {err}") from None
            out.append(
                ChannelRefund(
                    refund_id=str(rid) if len(lines) == 1 else f"{rid}:{line}",
                    external_id=ext,
                    line_id=str(line),
                    modified=at,
                    status="SUCCESS",
                    phase="onsale" if li.get("restock_type") == "cancel" else "aftersale",
                    fee=fee,
                    payload=refund,
                )
            )
    return out
