"""Shopify as a shipment confirmer: the order's fulfillment orders, then one fulfillment with
the tracking number (Admin REST "FulfillmentOrder" and "Fulfillment": ``POST
fulfillments.json`` with ``line_items_by_fulfillment_order`` and ``tracking_info``). In a shop
whose warehouses are mapped to its locations, the parcel's location is where its
fulfillment order must be: one assigned elsewhere is moved there first (``move.json``).

A fulfillment whose write committed but whose answer was lost is sent again; by then its
fulfillment order is closed and Shopify answers 422. So when no fulfillment order is open (or
the POST is refused with 422) we read the order's fulfillments: one with our tracking number
means our earlier write is there (done); another number, or none, is a failure a person must
look at.
"""

from __future__ import annotations

from typing import Any

from cloud.channels.ports import Refused
from cloud.channels.shopify.client import AdminClient

FULFILLABLE = ("open", "in_progress")


def items(fo: dict[str, Any]) -> dict[str, int]:
    """A fulfillment order's line item ids and quantities."""
    out: dict[str, int] = {}
    for li in fo.get("line_items") or []:
        if isinstance(li, dict):
            lid = str(li.get("line_item_id"))
            out[lid] = out.get(lid, 0) + int(li.get("quantity") or 0)
    return out


def mine(open_: list[dict[str, Any]], lines: dict[str, int]) -> list[dict[str, Any]]:
    """The open fulfillment orders a parcel of ``lines`` (line item id -> quantity) sends:
    the one whose line items are exactly those (a half of an order Shopify split: one
    fulfillment order each, sold_at.py), else each whose line items still fit in what is
    left of ``lines``. Another half's fulfillment order is never fulfilled with this
    parcel's number."""
    exact = [fo for fo in open_ if items(fo) == lines]
    if exact:
        return exact[:1]
    left, out = dict(lines), []
    for fo in open_:
        need = items(fo)
        if all(left.get(lid, 0) >= q for lid, q in need.items()):
            out.append(fo)
            for lid, q in need.items():
                left[lid] -= q
    return out


class ShopifyShipments:
    def __init__(self, client: AdminClient, *, notify_customer: bool = True) -> None:
        self.client, self.notify = client, notify_customer

    def confirm(
        self,
        external_id: str,
        tracking_number: str,
        company_code: str,
        *,
        location: str | None = None,
        lines: dict[str, int] | None = None,
    ) -> str:
        data, _ = self.client.get(f"orders/{external_id}/fulfillment_orders.json")
        fos = data.get("fulfillment_orders") if isinstance(data, dict) else None
        if not isinstance(fos, list):
            raise Refused(f"order {external_id}: fulfillment_orders is not a list")
        open_ = [fo for fo in fos if isinstance(fo, dict) and fo.get("status") in FULFILLABLE]
        if lines is not None:
            open_ = mine(open_, lines)
        if not open_:
            return self._already(external_id, tracking_number, fos)
        if location is not None:
            open_ = [self._at(fo, location) for fo in open_]
        # One fulfillment leaves from one location: fulfillment orders at two locations (a
        # shop whose locations are not mapped, an order Shopify split) are fulfilled apart.
        places: dict[str, list[dict[str, Any]]] = {}
        for fo in open_:
            places.setdefault(str(fo.get("assigned_location_id")), []).append(fo)
        for group in places.values():
            body = {
                "fulfillment": {
                    "line_items_by_fulfillment_order": [
                        {"fulfillment_order_id": fo["id"]} for fo in group
                    ],
                    "tracking_info": {"number": tracking_number, "company": company_code},
                    "notify_customer": self.notify,
                }
            }
            try:
                made, _ = self.client.post("fulfillments.json", body)
            except Refused as err:
                if err.sub_code != "422":
                    raise
                return self._already(external_id, tracking_number, fos)
            got = made.get("fulfillment") if isinstance(made, dict) else None
            if not isinstance(got, dict) or got.get("status") not in ("success", "pending", "open"):
                raise Refused(f"fulfillments.json for order {external_id}: no fulfillment made")
        return "sent"

    def _at(self, fo: dict[str, Any], location: str) -> dict[str, Any]:
        """The fulfillment order at the location the parcel left from: a fulfillment leaves
        from its fulfillment order's ``assigned_location_id`` (``fulfillments.json`` takes no
        location), so one Shopify assigned elsewhere is moved first (``POST
        fulfillment_orders/{id}/move.json`` ``new_location_id``; Admin REST
        "FulfillmentOrder"). Moving it again to where it is already is not done (a retry)."""
        if str(fo.get("assigned_location_id")) == location:
            return fo
        body = {"fulfillment_order": {"new_location_id": int(location)}}
        moved, _ = self.client.post(f"fulfillment_orders/{fo['id']}/move.json", body)
        got = moved.get("moved_fulfillment_order") if isinstance(moved, dict) else None
        if not isinstance(got, dict) or str(got.get("assigned_location_id")) != location:
            raise Refused(f"fulfillment order {fo['id']} was not moved to location {location}")
        return got

    def _already(self, external_id: str, tracking_number: str, fos: list[Any]) -> str:
        data, _ = self.client.get(f"orders/{external_id}/fulfillments.json")
        rows = data.get("fulfillments") if isinstance(data, dict) else None
        numbers: list[str] = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                numbers.extend(str(n) for n in row.get("tracking_numbers") or [])
                if row.get("tracking_number"):
                    numbers.append(str(row["tracking_number"]))
        if tracking_number in numbers:
            return "already"
        if numbers:
            raise Refused(
                f"order {external_id} is fulfilled on Shopify with tracking number "
                f"{numbers[0]}, not {tracking_number}"
            )
        states = ", ".join(str(fo.get("status")) for fo in fos if isinstance(fo, dict))
        raise Refused(
            f"order {external_id} has nothing left to fulfil on Shopify "
            f"(fulfillment orders: {states or 'none'}) and no fulfillment with our number"
        )
