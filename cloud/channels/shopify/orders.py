"""Shopify as an order source: ``orders.json`` for what changed in a window, then
``orders/{id}.json`` for each order whole.

Rules (shopify.dev, Admin REST "Order" and "Paginating results with REST"):
- ``status=any``, always: the default is ``open``, which hides cancelled and archived
  (fulfilled) orders, so their last change would never reach us;
- the window is ``updated_at_min`` to ``updated_at_max``, both ends included, whole seconds;
  the download run (download.py) keeps the watermark, overlap and lag as for Taobao;
- pages follow the ``Link`` header's ``rel="next"`` cursor; a request with ``page_info`` may
  carry only ``limit`` and ``fields`` (the cursor holds the filters), so those are all we send;
- the list gives only ``id`` and ``updated_at`` (``fields``), then each order is read whole.

A Shopify order becomes the hub's intake payload: the field names the intake reads
(intake.to_order — Taobao's: ``receiver_state``, ``orders.order[].outer_sku_id`` …), with
Shopify's own status fields kept under ``shopify``.

Fulfilment (Admin REST "Order": ``fulfillment_status`` null, ``partial`` or ``fulfilled``;
per line item ``fulfillable_quantity``, the units still to send): a ``partial`` order is
still to ship, but only what is left of it. One we import first when it is partial already
(a parcel sent from the Shopify admin or another app before our download) becomes an order
of the units still to send: each line keeps its ``num`` (the ``quantity``) and gets
``to_send``, its ``fulfillable_quantity``, which intake.to_order imports instead (a line
with none left is not ours to send), so the units sent are neither sent again nor lost. One
we imported before is not imported again, whatever its status (intake.py); our own parcels
made it partial, and the stored lines stay as ordered for the split parcels
(split_shipments.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.channels.ids import digits
from cloud.channels.ports import ChannelTrade, Listing, Refused
from cloud.channels.shopify.client import AdminClient, next_page_info

LIST_FIELDS = "id,updated_at"


def shopify_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_shopify_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise Refused(f"a time is not text: {str(text)[:40]!r}")
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"a time is not ISO 8601: {text[:40]!r}") from None
    if at.tzinfo is None:
        raise Refused(f"a time without an offset: {text[:40]!r}")
    return at.astimezone(UTC)


class ShopifyOrders:
    #: Shopify sets no limit on a window; a day keeps a slice's transaction small.
    max_span = timedelta(days=1)

    def __init__(self, client: AdminClient, *, limit: int = 250, status: str = "any") -> None:
        self.client, self.limit, self.status = client, limit, status

    @property
    def calls(self) -> int:
        return self.client.calls

    def listed(self, start: datetime, end: datetime) -> Listing:
        out = Listing()
        calls0 = self.client.calls
        params: dict[str, str] = {
            "status": self.status,
            "updated_at_min": shopify_time(start),
            "updated_at_max": shopify_time(end),
            "limit": str(self.limit),
            "fields": LIST_FIELDS,
        }
        while True:
            data, headers = self.client.get("orders.json", params)
            out.pages += 1
            rows = data.get("orders") if isinstance(data, dict) else None
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise Refused("orders.json: orders is not a list of objects")
            for row in rows:
                oid, modified = order_id(row), parse_shopify_time(row.get("updated_at"))
                if oid not in out.modified or modified > out.modified[oid]:
                    out.modified[oid] = modified
            cursor = next_page_info(headers.get("Link"))
            if cursor is None:
                break
            params = {"limit": str(self.limit), "fields": LIST_FIELDS, "page_info": cursor}
        out.calls = self.client.calls - calls0
        return out

    def fetch(self, external_ids: list[str]) -> list[ChannelTrade]:
        return [self.order(oid) for oid in external_ids]

    def order(self, oid: str) -> ChannelTrade:
        data, _ = self.client.get(f"orders/{oid}.json")
        order = data.get("order") if isinstance(data, dict) else None
        if not isinstance(order, dict):
            raise Refused(f"orders/{oid}.json: no order in the answer")
        trade = to_trade(order)
        if trade.paid:
            # Where Shopify sold it: the order's fulfillment orders and their locations
            # (intake.py reserves each at the warehouse mapped to its location).
            trade.payload["shopify"]["fulfillment_orders"] = self.fulfillment_orders(oid)
        return trade

    def order_of_fulfillment_order(self, fo_id: str) -> str:
        """The id of the order a fulfillment order belongs to: ``GET
        fulfillment_orders/{id}.json`` (Admin REST "FulfillmentOrder", ``order_id``). A
        ``fulfillment_orders/moved`` webhook names fulfillment orders only."""
        data, _ = self.client.get(f"fulfillment_orders/{fo_id}.json")
        fo = data.get("fulfillment_order") if isinstance(data, dict) else None
        oid = digits(fo.get("order_id")) if isinstance(fo, dict) else None
        if oid is None:
            raise Refused(f"fulfillment order {fo_id}: no order_id in the answer")
        return oid

    def fulfillment_orders(self, oid: str) -> list[dict[str, Any]]:
        """The order's fulfillment orders as the hub keeps them (Admin REST
        "FulfillmentOrder": ``assigned_location_id``, ``status``, ``line_items[]`` with
        ``line_item_id`` and ``quantity``): ``{"id", "location_id", "status", "lines":
        {line item id: quantity}}``, by id. Of one ``in_progress`` (some units sent) the
        units still to send, its line items' ``fulfillable_quantity``."""
        data, _ = self.client.get(f"orders/{oid}/fulfillment_orders.json")
        rows = data.get("fulfillment_orders") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise Refused(f"order {oid}: fulfillment_orders is not a list of objects")
        out = []
        for fo in rows:
            fo_id, location = digits(fo.get("id")), digits(fo.get("assigned_location_id"))
            items = fo.get("line_items")
            if fo_id is None or location is None or not isinstance(items, list):
                raise Refused(f"order {oid}: a fulfillment order without id, location or lines")
            lines: dict[str, int] = {}
            for li in items:
                lid = digits(li.get("line_item_id")) if isinstance(li, dict) else None
                qty = li.get("quantity") if isinstance(li, dict) else None
                left = li.get("fulfillable_quantity") if isinstance(li, dict) else None
                if fo.get("status") == "in_progress" and _count(left):
                    qty = left
                if lid is None or not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
                    raise Refused(f"order {oid}: fulfillment order {fo_id} has a bad line item")
                lines[lid] = lines.get(lid, 0) + qty
            out.append(
                {
                    "id": fo_id,
                    "location_id": location,
                    "status": str(fo.get("status") or ""),
                    "lines": lines,
                }
            )
        return sorted(out, key=lambda fo: int(fo["id"]))


def order_id(row: dict[str, Any]) -> str:
    oid = digits(row.get("id"))
    if oid is None:
        raise Refused(f"an order without a usable id: {str(row.get('id'))[:40]!r}")
    return oid


def to_trade(order: dict[str, Any]) -> ChannelTrade:
    """The order as the hub keeps it: paid and not fulfilled is what becomes a Guanjia order;
    cancelled is closed."""
    financial = str(order.get("financial_status") or "")
    fulfillment = order.get("fulfillment_status")
    cancelled = order.get("cancelled_at") is not None
    # Partly fulfilled is still to ship (the rest); fulfilled is not ours to ship.
    partial = fulfillment == "partial"
    status = "cancelled" if cancelled else f"{financial}/{fulfillment or 'unfulfilled'}"
    address = order.get("shipping_address") or {}
    if not isinstance(address, dict):
        address = {}
    customer = order.get("customer") or {}
    if not isinstance(customer, dict):
        customer = {}
    nick = " ".join(str(customer.get(k) or "") for k in ("first_name", "last_name")).strip()
    lines = order.get("line_items")
    notes = order.get("note_attributes")
    attrs = {
        str(a.get("name")): str(a.get("value") or "")
        for a in (notes if isinstance(notes, list) else [])
        if isinstance(a, dict)
    }
    return ChannelTrade(
        external_id=order_id(order),
        modified=parse_shopify_time(order.get("updated_at")),
        status=status,
        trade_type="shopify",
        paid=not cancelled and financial == "paid" and fulfillment in (None, "partial"),
        closed=cancelled,
        channel="shopify",
        payload={
            "tid": order_id(order),
            "status": status,
            "modified": order.get("updated_at"),
            "buyer_nick": nick,
            "buyer_message": order.get("note") or "",
            "seller_memo": order.get("tags") or "",
            "payment": order.get("total_price"),
            # Admin REST "Order": the shipping is total_shipping_price_set's shop money.
            "post_fee": _shop_money(order.get("total_shipping_price_set")),
            "receiver_name": address.get("name"),
            "receiver_state": address.get("province"),
            "receiver_city": address.get("city"),
            "receiver_district": address.get("address2"),
            "receiver_town": "",
            "receiver_address": address.get("address1"),
            "receiver_mobile": address.get("phone"),
            # The buyer's invoice request (cart attributes), under Taobao's names.
            "invoice_name": attrs.get("invoice_title", ""),
            "payer_register_no": attrs.get("tax_id", ""),
            "orders": {
                "order": [
                    {
                        "oid": ln.get("id"),
                        "outer_sku_id": ln.get("sku"),
                        "num": ln.get("quantity"),
                        "price": ln.get("price"),
                        "title": ln.get("title"),
                        **({"to_send": _left(ln)} if partial else {}),
                    }
                    for ln in (lines if isinstance(lines, list) else [])
                    if isinstance(ln, dict)
                ]
            },
            "shopify": {
                k: order.get(k)
                for k in (
                    "name",
                    "financial_status",
                    "fulfillment_status",
                    "cancelled_at",
                    "total_discounts",
                )
            },
        },
    )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _left(line: dict[str, Any]) -> Any:
    """A line item's units still to send (``fulfillable_quantity``, never more than its
    ``quantity``); its ``quantity`` when that is missing or not a count (intake refuses a
    quantity that is not one)."""
    left, quantity = line.get("fulfillable_quantity"), line.get("quantity")
    if not (isinstance(left, int) and _count(left)):
        return quantity
    return min(left, quantity) if isinstance(quantity, int) and _count(quantity) else left


def _shop_money(price_set: Any) -> Any:
    """The shop's currency amount of a ``…_set`` money field (``shop_money.amount``)."""
    money = price_set.get("shop_money") if isinstance(price_set, dict) else None
    return money.get("amount") if isinstance(money, dict) else None
